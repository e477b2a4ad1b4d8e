/// The feature sets a detector can be trained on.
public enum DetectorFeatureSet: String, Sendable, Codable, CaseIterable {
    /// The paper's 20-value signature: five spectral statistics of each of Q, K, V, O, averaged over
    /// layers. Kept as the documented baseline.
    case baseline
    /// Weights only: the five statistics per projection summarised over early/middle/late thirds of the
    /// layers and their maximum, the share of update energy per projection, all z-scored against a bank
    /// of benign adapters of the same profile and rank.
    case extended
    /// `extended` plus the trigger-agnostic token-response features (`TokenResponseFeatures`); needs the
    /// base model's token embeddings.
    case extendedTokens = "extended-tokens"

    public var needsBaseModel: Bool { self == .extendedTokens }
    public var usesBenignBank: Bool { self != .baseline }
}
