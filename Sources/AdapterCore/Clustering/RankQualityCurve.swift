/// The weight-space retained quality of each member of a cluster as a function of the rank its merged
/// adapter is written at, from one factored SVD merge.
///
/// The SVD merge at rank R has, per module, the components σ₁u₁v₁ᵀ, σ₂u₂v₂ᵀ, … in decreasing order,
/// and its truncation to r < R is the SVD merge at rank r (Eckart–Young, the same core SVD). Member i's
/// distance to the rank-r merge M_r is ‖M_r − ΔWᵢ‖² = Σ_{j≤r} nⱼ − 2 Σ_{j≤r} cᵢⱼ + ‖ΔWᵢ‖², with nⱼ the
/// energy of component j (summed over modules) and cᵢⱼ its inner product with ΔWᵢ, both from r×rᵢ
/// factor products (never out×in). So one merge at the largest rank gives the quality at every rank,
/// exactly as `WeightSpaceEvaluator` would score the merge at that rank.
public struct RankQualityCurve: Sendable, Hashable {
    /// Member task indices, as given.
    public let members: [Int]
    /// quality[r − 1][m]: member m's score at rank r, for r = 1 … `maximumRank`.
    public let quality: [[Double]]
    /// energies[j]: ‖component j + 1 of the merge‖², summed over the modules (empty when not known).
    public let energies: [Double]
    /// ‖Σ wᵢΔWᵢ‖² before truncation, summed over the modules, when known: with `energies`, the energy
    /// each rank leaves out (`JoinQualityBound`).
    public let totalEnergy: Double?

    public init(members: [Int], quality: [[Double]], energies: [Double] = [], totalEnergy: Double? = nil) {
        self.members = members
        self.quality = quality
        self.energies = energies
        self.totalEnergy = totalEnergy
    }

    /// The largest rank the curve covers.
    public var maximumRank: Int { quality.count }

    /// Each member's quality at `rank` (ranks past the curve's end keep its last value).
    public func quality(rank: Int) -> [Double] {
        guard !quality.isEmpty else { return members.map { _ in 0 } }
        return quality[min(max(rank, 1), quality.count) - 1]
    }

    /// Σ of the members' quality at `rank`.
    public func total(rank: Int) -> Double { quality(rank: rank).reduce(0, +) }

    /// Whether a curve gives `evaluator`'s scores of `merger`'s merges: the weight-space evaluator of
    /// SVD merges, so that those can be read from curves instead of merged and scored.
    static func scores(of evaluator: any Evaluator, merger: any ClusterMerging) -> Bool {
        evaluator is WeightSpaceEvaluator && merger is SVDClusterMerger
    }

    /// The curve of the merge of `adapters` (one per member, one profile) with `weights`, for ranks
    /// 1 … `maximumRank`. With `grams` (`FactorGrams` of the tasks `members` index) the merge is never
    /// formed: each module's spectrum and the members' inner products with it come from its `GramCore`
    /// (p×p work), Householder QR of that module's merge where the Gram path does not apply.
    public static func compute(members: [Int], adapters: [LoRAAdapter], weights: [Double],
                               maximumRank: Int, grams: FactorGrams? = nil) throws -> RankQualityCurve {
        guard maximumRank >= 1 else { throw ClusteringError(.invalidArgument, "a merged adapter needs rank ≥ 1") }
        guard members.count == adapters.count, adapters.count == weights.count, !adapters.isEmpty else {
            throw ClusteringError(.invalidArgument, "a rank curve needs one adapter and one weight per member")
        }
        return try ClusteringError.reportingMergeFailure("merging \(adapters.count) adapters at rank \(maximumRank)") {
            if let grams, weights.allSatisfy({ $0 != 0 && $0.isFinite }) {
                return try fromGrams(grams, members: members, adapters: adapters, weights: weights, maximumRank: maximumRank)
            }
            let merged = try AdapterMerger.merge(adapters, weights: weights, method: .svd(rank: maximumRank))
            return curve(members: members, merged: merged, adapters: adapters, maximumRank: maximumRank)
        }
    }

    /// Per rank j (0-based): the energy of the merge's component j, and each member's inner product with
    /// it, summed over modules.
    private struct Sums {
        var energy: [Double]
        var contribution: [[Double]]
        /// ‖Σ wᵢΔWᵢ‖² of the modules added (nil once a module's is not known).
        var total: Double? = 0

        init(members: Int, maximumRank: Int) {
            energy = [Double](repeating: 0, count: maximumRank)
            contribution = [[Double]](repeating: [Double](repeating: 0, count: maximumRank), count: members)
        }

        /// Adds the sums of one module (made apart, e.g. on another thread).
        mutating func add(_ module: Sums) {
            total = total.flatMap { t in module.total.map { t + $0 } }
            for j in energy.indices { energy[j] += module.energy[j] }
            for m in contribution.indices {
                for j in contribution[m].indices { contribution[m][j] += module.contribution[m][j] }
            }
        }

        /// Adds one module's merged factors (components in decreasing order) against the members' own.
        /// The merge's energy before truncation is not known from its factors: `total` becomes nil.
        mutating func add(merged module: LoRAModule, owns: [LoRAModule?]) {
            total = nil
            let (a, b) = (module.a, module.b)
            let maximumRank = energy.count
            for j in 0..<min(module.rank, maximumRank) {
                var bNorm = 0.0
                for row in 0..<b.rows { let x = b.elements[row * b.cols + j]; bNorm += x * x }
                var aNorm = 0.0
                for col in 0..<a.cols { let x = a.elements[j * a.cols + col]; aNorm += x * x }
                energy[j] += module.scale * module.scale * bNorm * aNorm
            }
            for (m, own) in owns.enumerated() {
                guard let own, module.inFeatures == own.inFeatures, module.outFeatures == own.outFeatures,
                      own.rank > 0 else { continue }
                let p = module.b.multiplied(by: own.b, transposeSelf: true)     // R × rᵢ
                let q = own.a.multiplied(by: module.a, transposeOther: true)    // rᵢ × R
                let factor = module.scale * own.scale
                for j in 0..<min(module.rank, maximumRank) {
                    var sum = 0.0
                    for k in 0..<own.rank { sum += p.elements[j * p.cols + k] * q.elements[k * q.cols + j] }
                    contribution[m][j] += factor * sum
                }
            }
        }

        /// Adds one module from its `GramCore`. With K = Σ σⱼuⱼvⱼᵀ, component j of the merge is
        /// σⱼ (Q_B uⱼ)(Q_A vⱼ)ᵀ and stacked term t is bₜaₜᵀ = (Q_B R_B eₜ ‖bₜ‖)(Q_A R_A eₜ ‖aₜ‖)ᵀ, so its
        /// energy is σⱼ² and ⟨component j, ΔW_m⟩ = s_m Σ_{t of m} (uⱼᵀR_B eₜ)(σⱼvⱼᵀR_A eₜ)‖bₜ‖‖aₜ‖, where
        /// σⱼvⱼᵀ = uⱼᵀK: only the leading eigenpairs (σⱼ², uⱼ) of KKᵀ are needed, not the SVD of K.
        mutating func add(_ components: LeadingComponents, termOwner: [Int], scales: [Double]) {
            let gram = components.core
            let p = gram.active.count
            guard p > 0 else { return }
            // B̂DÂ = Q_B K Q_Aᵀ with orthonormal Q's: its energy is ‖K‖².
            total = total.map { t in gram.core.elements.reduce(t) { $0 + $1 * $1 } }
            let (energies, u) = (components.values, components.vectors)
            let kept = energies.count
            let ur = u.multiplied(by: gram.rB, transposeSelf: true)                                  // Uₖᵀ R_B (k × p)
            let vr = components.projected.multiplied(by: gram.rA)                                   // Uₖᵀ K R_A (k × p)
            for j in 0..<kept {
                energy[j] += max(0, energies[j])
                for (t, term) in gram.active.enumerated() {
                    let m = termOwner[term]
                    contribution[m][j] += scales[m] * ur.elements[j * p + t] * vr.elements[j * p + t]
                        * gram.normsB[t] * gram.normsA[t]
                }
            }
        }

        /// Member m's quality at every rank: 1 − ‖M_r − ΔW_m‖² / ‖ΔW_m‖², clamped at 0.
        func curve(members: [Int], ownNorms: [Double]) -> RankQualityCurve {
            let maximumRank = energy.count
            var quality = [[Double]](repeating: [Double](repeating: 0, count: ownNorms.count), count: maximumRank)
            for (m, ownNorm) in ownNorms.enumerated() {
                var keptEnergy = 0.0
                var keptInner = 0.0
                for r in 0..<maximumRank {
                    keptEnergy += energy[r]
                    keptInner += contribution[m][r]
                    if ownNorm > 0 {
                        let distanceSquared = max(0, keptEnergy - 2 * keptInner + ownNorm)
                        quality[r][m] = max(0, 1 - distanceSquared / ownNorm)
                    } else {
                        quality[r][m] = keptEnergy > 0 ? 0 : 1
                    }
                }
            }
            return RankQualityCurve(members: members, quality: quality, energies: energy, totalEnergy: total)
        }
    }

    /// The curve of a given SVD merge (components in decreasing order per module) of `adapters`.
    static func curve(members: [Int], merged: LoRAAdapter, adapters: [LoRAAdapter], maximumRank: Int) -> RankQualityCurve {
        var sums = Sums(members: adapters.count, maximumRank: maximumRank)
        let owns = adapters.map { adapter in Dictionary(adapter.modules.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a }) }
        for module in merged.modules { sums.add(merged: module, owns: owns.map { $0[module.name] }) }
        return sums.curve(members: members, ownNorms: adapters.map(FactoredUpdates.normSquared))
    }

    /// The curve from the members' Gram blocks, module by module (`FactorGrams` lists the same modules
    /// in the same order for every task), the modules on `ComputeThreads` threads and summed in order.
    static func fromGrams(_ grams: FactorGrams, members: [Int], adapters: [LoRAAdapter], weights: [Double],
                          maximumRank: Int) throws -> RankQualityCurve {
        try fromGrams(grams, members: members, adapters: adapters, weights: weights, maximumRank: maximumRank,
                      keepingTruncations: false).curve
    }

    /// The curve of the SVD merge of `adapters` (tasks `members` of `grams`) with `weights`, as `compute`
    /// gives it from the Grams, and each module's `TruncationFactors` (by module index; nil where the Gram
    /// path does not apply), from which that merge at any rank ≤ `maximumRank` is written without
    /// factoring its cores again (`SVDClusterMerger.merge(_:weights:rank:grams:members:truncations:)`).
    /// nil when the Gram path cannot be taken at all (a zero or non-finite weight).
    static func computeKeepingTruncations(members: [Int], adapters: [LoRAAdapter], weights: [Double], maximumRank: Int,
                                         grams: FactorGrams) throws -> (curve: RankQualityCurve, truncations: [TruncationFactors?])? {
        guard maximumRank >= 1, members.count == adapters.count, adapters.count == weights.count, !adapters.isEmpty,
              weights.allSatisfy({ $0 != 0 && $0.isFinite }) else { return nil }
        return try ClusteringError.reportingMergeFailure("merging \(adapters.count) adapters at rank \(maximumRank)") {
            try fromGrams(grams, members: members, adapters: adapters, weights: weights, maximumRank: maximumRank,
                          keepingTruncations: true)
        }
    }

    private static func fromGrams(_ grams: FactorGrams, members: [Int], adapters: [LoRAAdapter], weights: [Double],
                                  maximumRank: Int, keepingTruncations: Bool)
        throws -> (curve: RankQualityCurve, truncations: [TruncationFactors?]) {
        let modules = try ParallelLoop.map(adapters[0].modules.count) { index in
            try moduleSums(index, grams: grams, members: members, adapters: adapters, weights: weights,
                           maximumRank: maximumRank, keepingTruncation: keepingTruncations)
        }
        var sums = Sums(members: adapters.count, maximumRank: maximumRank)
        for module in modules { sums.add(module.sums) }
        return (sums.curve(members: members, ownNorms: adapters.map(FactoredUpdates.normSquared)),
                keepingTruncations ? modules.map(\.truncation) : [])
    }

    /// One module's energies and inner products, from its `GramCore`, or from Householder QR of this
    /// module's merge (as `AdapterMerger` would compute it) where the Gram path does not apply.
    private static func moduleSums(_ index: Int, grams: FactorGrams, members: [Int], adapters: [LoRAAdapter],
                                   weights: [Double], maximumRank: Int,
                                   keepingTruncation: Bool) throws -> (sums: Sums, truncation: TruncationFactors?) {
        var sums = Sums(members: adapters.count, maximumRank: maximumRank)
        let module = adapters[0].modules[index]
        let owns = adapters.map { $0.modules[index] }
        var termOwner: [Int] = []
        var coefficients: [Double] = []
        for (m, own) in owns.enumerated() {
            termOwner += [Int](repeating: m, count: own.rank)
            coefficients += [Double](repeating: weights[m] * own.scale, count: own.rank)
        }
        let (gramB, gramA) = grams.grams(module: index, members: members)
        if let core = try GramCore(gramB: gramB, gramA: gramA, coefficients: coefficients,
                                   out: module.outFeatures, inn: module.inFeatures) {
            // Only the leading eigenpairs (σⱼ², uⱼ) of KKᵀ are needed, not the SVD of K.
            let (values, vectors) = core.active.isEmpty ? ([], Matrix(zeros: 0, 0))
                : try LAPACK.leadingEigenpairs(ofSymmetric: LAPACK.gramOfRows(core.core), count: maximumRank)
            let components = LeadingComponents(core: core, values: values, vectors: vectors)
            sums.add(components, termOwner: termOwner, scales: owns.map(\.scale))
            return (sums, keepingTruncation ? LowRank.truncationFactors(components, total: coefficients.count) : nil)
        } else {
            let updates = owns.map { LowRankUpdate(unchecked: $0.b, $0.a, $0.scale) }
            let merged = try LowRank.truncatedWeightedSumByHouseholderQR(updates, weights: weights, rank: maximumRank)
            let factors = merged.update
            sums.add(merged: LoRAModule(name: module.name, layer: module.layer, projection: module.projection,
                                        a: factors.a, b: factors.b, scale: factors.scale),
                     owns: owns)
            sums.total = merged.singularValues.reduce(0) { $0 + $1 * $1 }
        }
        return (sums, nil)
    }
}
