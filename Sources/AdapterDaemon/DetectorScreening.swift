import AdapterCore
import AdapterProtocol

/// Screening with adapterd's detector (AdapterCore `Detector`), optionally with the configured
/// threshold instead of the model's.
public struct DetectorScreening: Screening {
    public let detector: Detector
    public let thresholdOverride: Double?

    public init(detector: Detector, thresholdOverride: Double? = nil) {
        self.detector = detector
        self.thresholdOverride = thresholdOverride
    }

    /// The built-in default model (weights-only features).
    public static func makeDefault(thresholdOverride: Double?) throws -> DetectorScreening {
        DetectorScreening(detector: try Detector(model: try DefaultDetectorModels.weightsOnly()), thresholdOverride: thresholdOverride)
    }

    public var modelName: String { "\(detector.model.featureSet) logistic regression" }

    public var threshold: Double { thresholdOverride ?? detector.model.threshold }

    public func screen(_ adapter: LoRAAdapter) throws -> ScreeningVerdict {
        let verdict = detector.verdict(for: adapter)
        var decision: ScreeningVerdict.Decision
        switch verdict.decision {
        case .benign: decision = .benign
        case .poisoned: decision = .poisoned
        case .outOfDistribution: decision = .outOfDistribution
        }
        if let thresholdOverride, decision != .outOfDistribution {
            decision = verdict.score >= thresholdOverride ? .poisoned : .benign
        }
        return ScreeningVerdict(
            decision: decision, score: verdict.score, threshold: threshold,
            topFeatures: verdict.topFeatures.map { VerdictFeature(name: $0.name, value: $0.z, contribution: $0.contribution) },
            model: modelName, reasons: verdict.reasons)
    }
}
