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
    /// The trigger-agnostic token-alignment features alone (`TokenAlignmentFeatures`: how closely the
    /// input directions of Q/K/V updates match single vocabulary tokens); needs the base model's token
    /// embeddings.
    case alignment
    /// `extended` plus the token-alignment features; needs the base model's token embeddings.
    case extendedAlignment = "extended-alignment"

    public var needsBaseModel: Bool { includesTokenResponse || includesAlignment }
    /// Whether training z-scores features against a benign bank by default (`DetectorTrainingOptions`
    /// can switch it off; a model file records whether it has a bank).
    public var usesBenignBank: Bool { self != .baseline }
    /// Whether the per-layer spectral statistics of `extended` are part of the set.
    public var includesSpectral: Bool { self == .extended || self == .extendedTokens || self == .extendedAlignment }
    public var includesTokenResponse: Bool { self == .extendedTokens }
    public var includesAlignment: Bool { self == .alignment || self == .extendedAlignment }
}
