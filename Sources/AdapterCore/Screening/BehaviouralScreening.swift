import Foundation

/// Screening with the weights and with behaviour: the `Detector`'s verdict, joined with what a
/// `BehaviouralProbe` sees the adapter do to the install's labelled examples on the base model.
///
/// - An out-of-distribution weight verdict stands (structural problems come first).
/// - A behavioural score at or above `threshold` makes the adapter poisoned, whatever the weights
///   say; the first reason names the trigger, the label and the share of examples it moved.
/// - Otherwise the weight verdict stands, with the evidence attached.
/// - When the probe cannot run (fewer than two labels in the examples, an adapter of another base
///   model) the weight verdict stands and a reason says why behaviour was not screened.
public struct BehaviouralScreening: Sendable {
    public let detector: Detector
    public let probe: BehaviouralProbe
    public let threshold: Double

    /// The threshold set on benign adapters only: just above the largest score of the corpus's 30
    /// benign adapters (0.938, a llama-tiny one; MiniLM's largest 0.900), so none of them is refused.
    /// `adapterctl detector behaviour` measures it; docs/DETECTOR.md has the table.
    public static let defaultThreshold = 0.95

    public init(detector: Detector, probe: BehaviouralProbe, threshold: Double = BehaviouralScreening.defaultThreshold) {
        self.detector = detector
        self.probe = probe
        self.threshold = threshold
    }

    public func verdict(for adapter: LoRAAdapter, examples: [TaskExample], taskName: String) -> Verdict {
        let weights = detector.verdict(for: adapter)
        guard weights.decision != .outOfDistribution else { return weights }
        return Self.judged(weights, threshold: threshold,
                           evidence: Result { try probe.probe(adapter, examples: examples, taskName: taskName) })
    }

    /// `weights` with the probe's outcome applied against `threshold`.
    public static func judged(_ weights: Verdict, threshold: Double, evidence: Result<BehaviouralEvidence, any Error>) -> Verdict {
        var verdict = weights
        switch evidence {
        case .failure(let error):
            verdict.reasons.append("behaviour not screened: \(error)")
        case .success(let evidence):
            verdict.behaviour = evidence
            verdict.behaviouralThreshold = threshold
            if verdict.isBehaviourallyPoisoned {
                verdict.decision = .poisoned
                verdict.reasons.insert("behaviour: \(evidence.summary) ≥ threshold \(String(format: "%.3f", threshold))", at: 0)
            } else {
                verdict.reasons.append("behaviour: \(evidence.summary) < threshold \(String(format: "%.3f", threshold))")
            }
        }
        return verdict
    }
}
