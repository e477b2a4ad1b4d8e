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

    public init(members: [Int], quality: [[Double]]) {
        self.members = members
        self.quality = quality
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

    /// The curve of the merge of `adapters` (one per member, one profile) with `weights`, for ranks
    /// 1 … `maximumRank`.
    public static func compute(members: [Int], adapters: [LoRAAdapter], weights: [Double],
                               maximumRank: Int) throws -> RankQualityCurve {
        guard maximumRank >= 1 else { throw ClusteringError(.invalidArgument, "a merged adapter needs rank ≥ 1") }
        guard members.count == adapters.count, adapters.count == weights.count, !adapters.isEmpty else {
            throw ClusteringError(.invalidArgument, "a rank curve needs one adapter and one weight per member")
        }
        let merged: LoRAAdapter
        do {
            merged = try AdapterMerger.merge(adapters, weights: weights, method: .svd(rank: maximumRank))
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ClusteringError(.mergeFailed, "merging \(adapters.count) adapters at rank \(maximumRank) failed: \(error)")
        }
        return curve(members: members, merged: merged, adapters: adapters, maximumRank: maximumRank)
    }

    /// The curve of a given SVD merge (components in decreasing order per module) of `adapters`.
    static func curve(members: [Int], merged: LoRAAdapter, adapters: [LoRAAdapter], maximumRank: Int) -> RankQualityCurve {
        // Energy of each component, summed over modules.
        var energy = [Double](repeating: 0, count: maximumRank)
        for module in merged.modules {
            let (a, b) = (module.a, module.b)
            for j in 0..<min(module.rank, maximumRank) {
                var bNorm = 0.0
                for row in 0..<b.rows { let x = b.elements[row * b.cols + j]; bNorm += x * x }
                var aNorm = 0.0
                for col in 0..<a.cols { let x = a.elements[j * a.cols + col]; aNorm += x * x }
                energy[j] += module.scale * module.scale * bNorm * aNorm
            }
        }
        var byName: [String: LoRAModule] = [:]
        for module in merged.modules { byName[module.name] = module }
        var quality = [[Double]](repeating: [Double](repeating: 0, count: adapters.count), count: maximumRank)
        for (m, adapter) in adapters.enumerated() {
            // cⱼ = ⟨component j, ΔW_m⟩ summed over modules.
            var contribution = [Double](repeating: 0, count: maximumRank)
            for own in adapter.modules {
                guard let module = byName[own.name], module.inFeatures == own.inFeatures,
                      module.outFeatures == own.outFeatures, own.rank > 0 else { continue }
                let p = module.b.multiplied(by: own.b, transposeSelf: true)     // R × rᵢ
                let q = own.a.multiplied(by: module.a, transposeOther: true)    // rᵢ × R
                let factor = module.scale * own.scale
                for j in 0..<min(module.rank, maximumRank) {
                    var sum = 0.0
                    for k in 0..<own.rank { sum += p.elements[j * p.cols + k] * q.elements[k * q.cols + j] }
                    contribution[j] += factor * sum
                }
            }
            let ownNorm = FactoredUpdates.normSquared(adapter)
            var keptEnergy = 0.0
            var keptInner = 0.0
            for r in 0..<maximumRank {
                keptEnergy += energy[r]
                keptInner += contribution[r]
                if ownNorm > 0 {
                    let distanceSquared = max(0, keptEnergy - 2 * keptInner + ownNorm)
                    quality[r][m] = max(0, 1 - distanceSquared / ownNorm)
                } else {
                    quality[r][m] = keptEnergy > 0 ? 0 : 1
                }
            }
        }
        return RankQualityCurve(members: members, quality: quality)
    }
}
