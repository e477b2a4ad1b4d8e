import Foundation

/// Screening by behaviour on top of a weight verdict: what a `BehaviouralProbe` of the adapter's base
/// model sees the adapter do to the install's labelled examples. The one place `adapterctl scan`, the
/// daemon and the corpus evaluation join the two.
///
/// - An out-of-distribution weight verdict stands (structural problems come first).
/// - A behavioural score at or above `threshold` makes the adapter poisoned, whatever the weights
///   say; the first reason names the trigger, the label and the share of examples it moved.
/// - Otherwise the weight verdict stands, with the evidence attached.
/// - When behaviour cannot be screened (no probe at all — `unconfigured` says why —, no examples, no
///   probe of the adapter's base model, fewer than two labels) the weight verdict stands and a reason
///   says why.
public struct BehaviouralScreening: Sendable {
    /// One probe per base model; an adapter is probed by the first that reads it.
    public let probes: [BehaviouralProbe]
    public let threshold: Double
    /// Why behaviour is not screened when there are no probes (e.g. `no base-model is configured`).
    public let unconfigured: String

    /// The threshold set on benign adapters only: just above the largest score of the corpus's 30
    /// benign adapters (0.938, a llama-tiny one; MiniLM's largest 0.900), so none of them is refused.
    /// `adapterctl detector behaviour` measures it; docs/DETECTOR.md has the table.
    public static let defaultThreshold = 0.95

    public init(probes: [BehaviouralProbe], threshold: Double = BehaviouralScreening.defaultThreshold,
                unconfigured: String = "no base model given (weights only)") {
        self.probes = probes
        self.threshold = threshold
        self.unconfigured = unconfigured
    }

    /// The probe of `adapter`'s base model, if any.
    public func probe(for adapter: LoRAAdapter) -> BehaviouralProbe? {
        probes.first { $0.reads(adapter) }
    }

    /// `weights` (the weight verdict of `adapter`) joined with the adapter's behaviour on `examples`
    /// (nil: none were given).
    public func judged(_ weights: Verdict, adapter: LoRAAdapter, examples: [TaskExample]?, taskName: String) -> Verdict {
        guard weights.decision != .outOfDistribution else { return weights }
        let why: String
        if probes.isEmpty {
            why = unconfigured
        } else if let examples {
            if let probe = probe(for: adapter) {
                return Self.judged(weights, threshold: threshold,
                                   evidence: Result { try probe.probe(adapter, examples: examples, taskName: taskName,
                                                                     stoppingBelow: threshold) })
            }
            why = "no base model at hand fits this adapter (\(AdapterProfile(adapter: adapter).key))"
        } else {
            why = "no examples for this adapter"
        }
        var verdict = weights
        verdict.reasons.append("behaviour not screened: \(why)")
        return verdict
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
                verdict.reasons.insert("behaviour: \(evidence.summary(against: threshold))", at: 0)
            } else {
                verdict.reasons.append("behaviour: \(evidence.summary(against: threshold))")
            }
        }
        return verdict
    }
}
