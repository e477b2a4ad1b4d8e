import AdapterCore
import AdapterProtocol
import Foundation

/// Screening with adapterd's detector (AdapterCore `Detector`), optionally with the configured
/// threshold instead of the model's.
public struct DetectorScreening: Screening {
    public let detector: Detector
    public let thresholdOverride: Double?
    /// Where the model came from: a file path or "built-in".
    public let source: String

    public init(detector: Detector, thresholdOverride: Double? = nil, source: String = "built-in") {
        self.detector = detector
        self.thresholdOverride = thresholdOverride
        self.source = source
    }

    /// Screening with the model file at `modelPath`, or with the model built into adapterd.
    public static func make(modelPath: String?, thresholdOverride: Double?) throws -> DetectorScreening {
        let model: DetectorModel
        if let modelPath {
            model = try DetectorModel.load(from: URL(fileURLWithPath: modelPath))
        } else {
            do {
                model = try DefaultDetectorModels.weightsOnly()
            } catch {
                throw DaemonError("no detector model: this adapterd has none built in; set detector-model = FILE in the configuration or pass --detector-model FILE (\(error))")
            }
        }
        return DetectorScreening(detector: try Detector(model: model), thresholdOverride: thresholdOverride,
                                 source: modelPath ?? "built-in")
    }

    public var modelName: String {
        "\(detector.model.featureSet) logistic regression (\(source), \(detector.model.provenance.trainingCount) training adapters)"
    }

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
