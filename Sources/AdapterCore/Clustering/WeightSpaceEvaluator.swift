/// The default evaluator, which needs no model: how much of the task's own update a candidate
/// preserves, score = max(0, 1 − ‖ΔW_candidate − ΔW_own‖² / ‖ΔW_own‖²) (the share of the update's
/// energy kept, R² of the candidate as a fit of it) with Frobenius norms summed over the task's modules
/// and computed from the factors (never out×in). docs/CLUSTERING.md says why squared.
///
/// The task's own adapter scores exactly 1, so retained quality equals the score. A candidate that
/// misses the update entirely (zero) scores 0, as does any candidate at least that far away.
/// Modules are matched by name; a module present on one side only counts as a zero update on the
/// other (the clustering code never mixes base-model profiles, so this does not arise there).
public struct WeightSpaceEvaluator: ComputedEvaluator {
    public var name: String { "weight-space" }
    public var maximumScore: Double? { 1 }
    /// Its products run module by module on the compute threads (`FactoredUpdates`).
    public var splitsItsWork: Bool { true }

    public init() {}

    public func scoreNow(task: TaskProfile, candidate: LoRAAdapter) throws -> Double {
        Self.score(own: task.adapter, candidate: candidate)
    }

    /// The synchronous score, for callers outside an async context.
    public static func score(own: LoRAAdapter, candidate: LoRAAdapter) -> Double {
        // The own adapter scores 1 (the computation below gives exactly that: ‖ΔW‖² and ⟨ΔW, ΔW⟩ sum the
        // same products in the same order), without a pass over its factors (≈ 18 ms at 3B; every plan
        // scores every task's own adapter, every placement the new task's).
        if candidate.isCopy(of: own) { return 1 }
        let ownNorm = FactoredUpdates.normSquared(own)
        let candidateNorm = FactoredUpdates.normSquared(candidate)
        guard ownNorm > 0 else { return candidateNorm > 0 ? 0 : 1 }
        // ‖ΔW_candidate − ΔW_own‖² as `FactoredUpdates.distanceSquared` computes it, with ‖ΔW_own‖²
        // taken once rather than twice.
        let distance = max(0, candidateNorm - 2 * FactoredUpdates.inner(candidate, own) + ownNorm)
        return max(0, 1 - distance / ownNorm)
    }
}
