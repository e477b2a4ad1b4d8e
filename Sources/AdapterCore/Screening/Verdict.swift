/// One feature's push on a detector's decision: its raw value, its standardised value z and the
/// contribution coefficient × z to the logit (positive pushes towards "poisoned").
public struct FeatureContribution: Sendable, Equatable, Codable {
    public var name: String
    public var value: Double
    public var z: Double
    public var contribution: Double

    public init(name: String, value: Double, z: Double, contribution: Double) {
        self.name = name
        self.value = value
        self.z = z
        self.contribution = contribution
    }
}

/// A detector's judgement of one adapter, with what drove it.
public struct Verdict: Sendable, Equatable, Codable {
    public enum Decision: String, Sendable, Equatable, Codable {
        case benign
        case poisoned
        /// The adapter lies outside what the detector was trained on; it is not scored as benign.
        case outOfDistribution = "out-of-distribution"
    }

    public var decision: Decision
    /// Probability of "poisoned" under the model; NaN when no score could be computed.
    public var score: Double
    public var threshold: Double
    /// The features with the largest |coefficient × z|, largest first.
    public var topFeatures: [FeatureContribution]
    /// Why the adapter is out of distribution (empty otherwise), plus informative notes such as the
    /// vocabulary token the adapter reacts to most.
    public var reasons: [String]
    /// The feature set of the model that judged.
    public var featureSet: String
    /// The model that judged as users see it named (the daemon's detector description); the feature
    /// set when nothing more is known.
    public var model: String
    /// What the behavioural probe saw (nil when it did not run: no base model or no labelled examples).
    public var behaviour: BehaviouralEvidence?
    /// The behavioural score at or above which the adapter is poisoned (with `behaviour`).
    public var behaviouralThreshold: Double?

    public init(decision: Decision, score: Double, threshold: Double, topFeatures: [FeatureContribution],
                reasons: [String], featureSet: String, model: String? = nil) {
        self.decision = decision
        self.score = score
        self.threshold = threshold
        self.topFeatures = topFeatures
        self.reasons = reasons
        self.featureSet = featureSet
        self.model = model ?? featureSet
    }

    /// The same judgement against another threshold (a configured override of the model's): the
    /// score decides anew between benign and poisoned; out of distribution stays so, whatever the
    /// threshold, and so does behavioural evidence at or above its threshold.
    public func judged(against threshold: Double) -> Verdict {
        var verdict = self
        verdict.threshold = threshold
        if decision != .outOfDistribution {
            verdict.decision = score >= threshold || isBehaviourallyPoisoned ? .poisoned : .benign
        }
        return verdict
    }

    /// Whether the behavioural evidence alone makes the adapter poisoned.
    public var isBehaviourallyPoisoned: Bool {
        guard let behaviour, let behaviouralThreshold else { return false }
        return behaviour.score >= behaviouralThreshold
    }

    /// True when the adapter must not be accepted (poisoned or out of distribution).
    public var isFlagged: Bool { decision != .benign }
}
