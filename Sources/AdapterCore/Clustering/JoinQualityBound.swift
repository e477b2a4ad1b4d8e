/// An upper bound on a task's weight-space quality in the rank-r SVD merge of a cluster with the task
/// added, from the cluster's own rank curve and the tasks' pairwise inner products (the plan's
/// `TaskSimilarity` holds them, summed over the modules): no merge of the joined set, no
/// eigen-decomposition. The refinement asks it before scoring a join, and skips the join when even the
/// bound cannot make the task move.
///
/// With J = C ∪ {t} merged with weights w (which are α times C's own weights on C), S = Σ_J wⱼΔWⱼ =
/// α S_C + w_t ΔW_t and M its rank-r truncation, module by module:
/// - ‖S − M‖ ≤ ‖S − α M_C‖ ≤ α ‖S_C − M_C‖ + |w_t| ‖ΔW_t‖ (Eckart–Young: M is the best rank r; M_C, C's
///   own rank-r merge, is one rank-r candidate), and ‖S_C − M_C‖² is C's energy past rank r;
/// - ‖M − ΔW_t‖ ≥ ‖S − ΔW_t‖ − ‖S − M‖ (triangle inequality), and over the modules, with a = (‖S − ΔW_t‖)
///   and b = (the bounds above) per module, ‖(a − b)₊‖ ≥ ‖a‖ − ‖b‖ ≥ ‖a‖ − α‖tail_C‖ − |w_t|‖ΔW_t‖;
/// - ‖S − ΔW_t‖² = Σ_{j,k∈J} wⱼw_k⟨ΔWⱼ, ΔW_k⟩ − 2 Σⱼ wⱼ⟨ΔWⱼ, ΔW_t⟩ + ‖ΔW_t‖², from inner products.
/// So the task's quality 1 − ‖M − ΔW_t‖²/‖ΔW_t‖² is at most 1 − d²/‖ΔW_t‖² with d that lower bound,
/// loosened by a few units of rounding so that a computed bound is never below the computed score.
enum JoinQualityBound {
    /// The bound for `task` in the merge of `members` (sorted, containing `task`) with `weights`, at
    /// `rank`, given the curve of the other members (`others`, sorted) merged with `otherWeights`; nil
    /// when those do not determine one (weights not proportional, energies not known, zero update).
    static func upperBound(task: Int, members: [Int], weights: [Double], rank: Int, others: [Int],
                           otherWeights: [Double], othersCurve curve: RankQualityCurve,
                           inner: (Int, Int) -> Double) -> Double? {
        guard let t = members.firstIndex(of: task), members.count == others.count + 1,
              members.filter({ $0 != task }) == others, otherWeights.count == others.count,
              weights.count == members.count, let total = curve.totalEnergy,
              rank >= 1, rank <= curve.energies.count else { return nil }
        // The joined weights on the others are α times their own (every `MergeWeighting` is).
        let joinedOnOthers = weights.enumerated().filter { $0.offset != t }.map(\.element)
        guard let pivot = otherWeights.indices.max(by: { abs(otherWeights[$0]) < abs(otherWeights[$1]) }),
              otherWeights[pivot] != 0 else { return nil }
        let alpha = joinedOnOthers[pivot] / otherWeights[pivot]
        guard alpha.isFinite, zip(joinedOnOthers, otherWeights).allSatisfy({
            abs($0 - alpha * $1) <= 1e-12 * max(abs($0), abs(alpha * $1))
        }) else { return nil }
        let own = inner(task, task)
        guard own > 0, own.isFinite else { return nil }
        let kept = curve.energies.prefix(rank).reduce(0, +)
        let tail = (max(0, total - kept) + 1e-12 * abs(total)).squareRoot()
        let b = abs(alpha) * tail + abs(weights[t]) * own.squareRoot()
        // ‖S − ΔW_t‖² from the inner products, and the magnitude of its terms (for the rounding slack).
        var distance = own, magnitude = own
        for (j, x) in members.enumerated() {
            let cross = weights[j] * inner(x, task)
            distance -= 2 * cross
            magnitude += 2 * abs(cross)
            for (k, y) in members.enumerated() {
                let term = weights[j] * weights[k] * inner(x, y)
                distance += term
                magnitude += abs(term)
            }
        }
        let a = max(0, distance - 1e-12 * magnitude).squareRoot()
        let d = max(0, a - b)
        guard d.isFinite else { return nil }
        return max(0, 1 - d * d / own) + 1e-9
    }
}
