/// The detector's verdict on an adapter as the store keeps it (for installed and refused adapters).
///
/// The store does not interpret it beyond checking that the numbers are finite; the daemon fills it
/// from the detector's result.
public struct VerdictRecord: Hashable, Sendable, Codable {
    /// One signature feature's share in the score.
    public struct Feature: Hashable, Sendable, Codable {
        public var name: String
        /// The feature's (standardised) value.
        public var value: Double
        /// Its contribution to the logit (coefficient × value).
        public var contribution: Double

        public init(name: String, value: Double, contribution: Double) {
            self.name = name
            self.value = value
            self.contribution = contribution
        }
    }

    /// The detector's score (probability of "poisoned").
    public var score: Double
    /// The threshold the score was compared against.
    public var threshold: Double
    /// The outcome, as the daemon's detector names it: "benign", "poisoned" or "out-of-distribution".
    public var label: String
    /// The features that weighed most, largest first.
    public var topFeatures: [Feature]
    /// A sentence for the user, e.g. why it was refused.
    public var reason: String?

    public init(score: Double, threshold: Double, label: String, topFeatures: [Feature] = [], reason: String? = nil) {
        self.score = score
        self.threshold = threshold
        self.label = label
        self.topFeatures = topFeatures
        self.reason = reason
    }

    func validated() throws -> VerdictRecord {
        let numbers = [score, threshold] + topFeatures.flatMap { [$0.value, $0.contribution] }
        guard numbers.allSatisfy(\.isFinite) else {
            throw StoreError(.invalidArgument, "a verdict must have finite score, threshold and feature values")
        }
        return self
    }
}
