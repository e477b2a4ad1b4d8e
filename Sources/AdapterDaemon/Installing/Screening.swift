import AdapterCore
import AdapterProtocol

/// The screening step of an install: an adapter in, a verdict out. The daemon depends on this
/// protocol, not on a particular detector, so tests can screen with a known model.
public protocol Screening: Sendable {
    /// A short name of the model, reported in status and verdicts.
    var modelName: String { get }
    /// The threshold in force.
    var threshold: Double { get }
    /// Decides whether the adapter may be installed. Throws for adapters it cannot judge at all.
    func screen(_ adapter: LoRAAdapter) throws -> ScreeningVerdict
}

/// The outcome of screening one adapter.
public struct ScreeningVerdict: Sendable, Hashable {
    public enum Decision: String, Sendable, Hashable {
        case benign
        case poisoned
        case outOfDistribution = "out-of-distribution"
    }

    public var decision: Decision
    public var score: Double
    public var threshold: Double
    public var topFeatures: [VerdictFeature]
    public var model: String
    /// Why it is out of distribution, and other notes of the detector.
    public var reasons: [String]

    public init(decision: Decision, score: Double, threshold: Double, topFeatures: [VerdictFeature], model: String,
                reasons: [String] = []) {
        self.decision = decision
        self.score = score
        self.threshold = threshold
        self.topFeatures = topFeatures
        self.model = model
        self.reasons = reasons
    }

    /// Whether the install may proceed.
    public var accepted: Bool { decision == .benign }

    /// The wire form.
    public var info: VerdictInfo {
        VerdictInfo(decision: decision.rawValue, score: score, threshold: threshold, topFeatures: topFeatures, model: model)
    }
}
