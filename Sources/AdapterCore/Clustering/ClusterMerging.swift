/// Merges a cluster's adapters into one: Σ wᵢ ΔWᵢ written at (at most) a target rank. The refiner
/// depends only on this, so the merge method is pluggable; the default truncates by SVD (Eckart–Young).
public protocol ClusterMerging: Sendable {
    /// A short name shown in plans ("svd").
    var name: String { get }

    /// The adapters share one base-model profile; `weights` has one entry per adapter.
    func merge(_ adapters: [LoRAAdapter], weights: [Double], rank: Int) throws -> LoRAAdapter

    /// The same merge when the caller keeps the tasks' Gram blocks (`adapters[i]` is task `members[i]`
    /// of `grams`): a merge that needs those Grams reads them instead of computing them. By default the
    /// blocks are not used.
    func merge(_ adapters: [LoRAAdapter], weights: [Double], rank: Int, grams: FactorGrams?,
               members: [Int]) throws -> LoRAAdapter
}

extension ClusterMerging {
    public func merge(_ adapters: [LoRAAdapter], weights: [Double], rank: Int, grams: FactorGrams?,
                      members: [Int]) throws -> LoRAAdapter {
        try merge(adapters, weights: weights, rank: rank)
    }
}

/// How the members of a cluster are weighted in its merge.
public enum MergeWeighting: String, Sendable, Hashable, CaseIterable {
    /// wᵢ = 1/n: the mean update, which minimises Σᵢ ‖M − ΔWᵢ‖² (absolute errors).
    case uniform
    /// wᵢ ∝ 1/‖ΔWᵢ‖², normalised to sum 1: the weighted mean that minimises Σᵢ ‖M − ΔWᵢ‖²/‖ΔWᵢ‖², the
    /// squared relative errors the weight-space evaluator scores; its rank-k truncated SVD is the best
    /// rank-k merge under that objective. Keeps a large-norm task from drowning small ones.
    case inverseSquaredNorm
    /// wᵢ = 1: the sum of the members' updates (task arithmetic). Members whose updates are nearly
    /// orthogonal (separately trained LoRAs usually are) each keep their whole update, where the mean
    /// keeps only 1/n of it; the price is interference where the updates overlap. Which one serves the
    /// tasks better is a question for a data-driven evaluator (the weight-space one prefers the mean).
    case sum

    /// The weights for members with these update norms ‖ΔWᵢ‖ (zero-norm members get no weight
    /// under `inverseSquaredNorm` unless every member is zero).
    public func weights(norms: [Double]) -> [Double] {
        let n = norms.count
        guard n > 0 else { return [] }
        switch self {
        case .uniform:
            return [Double](repeating: 1 / Double(n), count: n)
        case .inverseSquaredNorm:
            let inverse = norms.map { $0 > 0 ? 1 / ($0 * $0) : 0 }
            let total = inverse.reduce(0, +)
            guard total > 0, total.isFinite else { return [Double](repeating: 1 / Double(n), count: n) }
            return inverse.map { $0 / total }
        case .sum:
            return [Double](repeating: 1, count: n)
        }
    }
}
