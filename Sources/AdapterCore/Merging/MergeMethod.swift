/// How `AdapterMerger` combines the updates ΔWᵢ of several adapters with weights wᵢ, module by module.
///
/// The first two are exact factored computations; TIES and DARE are elementwise by definition, so they
/// form each module's dense ΔWᵢ (one module at a time) and re-factor the result by truncated SVD.
/// They match PEFT's `add_weighted_adapter` combination types noted on each case.
public enum MergeMethod: Sendable, Hashable, Codable {
    /// Σ wᵢΔWᵢ truncated to `rank` by SVD: the optimal rank-k approximation (Eckart–Young), computed in
    /// factored form by `LowRank.truncatedWeightedSum`. PEFT `svd` with `svd_rank = rank`.
    case svd(rank: Int)
    /// Exact concatenation: B' = [B₁ … Bₙ], A' = [w₁s₁A₁; …], rank Σ rᵢ. PEFT `cat`.
    case cat
    /// TIES: trim each ΔWᵢ to the `density` fraction of its largest-magnitude entries, elect each entry's
    /// sign from the trimmed updates (`majoritySign`), average the weighted entries that agree with it
    /// (disjoint mean), then truncate to `rank` by SVD. PEFT `ties_svd`.
    case ties(density: Double, rank: Int, majoritySign: MajoritySignMethod = .total)
    /// DARE: drop each entry of each ΔWᵢ with probability `dropProbability`, rescale survivors by
    /// 1/(1 − p), sum with the weights, then truncate to `rank` by SVD. Deterministic for a given `seed`.
    /// PEFT `dare_linear_svd` with density = 1 − p (PEFT draws from torch's global generator instead).
    case dare(dropProbability: Double, rank: Int, seed: UInt64)

    /// A short name for logs and status ("svd", "cat", "ties", "dare").
    public var name: String {
        switch self {
        case .svd: "svd"
        case .cat: "cat"
        case .ties: "ties"
        case .dare: "dare"
        }
    }
}

/// How TIES elects the sign of each entry from the trimmed updates Tᵢ (PEFT's `majority_sign_method`).
public enum MajoritySignMethod: String, Sendable, Hashable, Codable {
    /// sign(Σᵢ Tᵢ): the side with the larger total mass wins.
    case total
    /// sign(Σᵢ sign(Tᵢ)): the side with more non-zero entries wins.
    case frequency
}
