import Foundation

/// Trigger-agnostic features from how closely the input directions an adapter's query/key/value
/// updates read match single vocabulary tokens of its base model.
///
/// ΔW = s·B·A reads its input only through its right singular vectors v₁…vₙ (computed in factored
/// form: QR of Aᵀ and B, SVD of the small core). A backdoor keyed to a token or phrase needs ΔW to pick
/// that token's vector out of the input, so one of the vᵢ tends to point almost exactly at the
/// trigger's embedding; a benign update reads broader, semantic directions (a mixture of many task
/// words), so no single token matches any vᵢ as closely or as uniquely. For each direction vᵢ and each
/// kept token vector x (`TokenEmbeddingTable.centredUnitVectors`: the first-layer input of the token
/// minus the vocabulary mean, unit length) the alignment is cᵢ(x) = |⟨vᵢ, x⟩|. Per module:
/// - `top1max`: maxᵢ maxₓ cᵢ(x) — the best single-token match of any direction;
/// - `top1first`: maxₓ c₁(x) for the leading direction;
/// - `gap10w`: Σᵢ wᵢ·(best − mean of the 2nd…10th best match of vᵢ), wᵢ = σᵢ²/Σσ² — how much one token
///   stands out from its runners-up, weighted by how much of the update the direction carries;
/// - `gap1max`: maxᵢ (best − second best match of vᵢ).
/// Aggregated for Q, for V, and for all of Q/K/V together (`qkv`, so adapters that skip K or Q still
/// get every feature), at the first adapted layer (`L0`, where the input is exactly the token
/// embedding) and as the maximum over layers (`max`).
public enum TokenAlignmentFeatures {
    static let statNames = ["top1max", "top1first", "gap10w", "gap1max"]
    static let groups = ["q", "v", "qkv"]
    /// Directions with σᵢ below this share of σ₁ carry no update and are ignored.
    static let relativeSingularValueFloor = 1e-8

    /// Feature names, in the order `compute` returns values.
    public static var names: [String] {
        var out: [String] = []
        for g in groups {
            for agg in ["L0", "max"] {
                for s in statNames { out.append("align.\(g).\(agg).\(s)") }
            }
        }
        return out
    }

    /// What `compute` found besides the feature values: the token that matched a direction best.
    public struct Result: Sendable {
        public var values: [Double]
        public var topToken: String?
        public var topAlignment: Double
        public var topModule: String?
    }

    /// Alignment statistics of one module (`statNames` order) and its best token.
    static func moduleStatistics(_ module: LoRAModule, table: TokenEmbeddingTable) throws
        -> (stats: [Double], bestToken: Int, best: Double) {
        try moduleStatistics([module], table: table)[0]
    }

    /// Vocabulary rows per block of the batched product (bounds the block to rows × Σ directions).
    static let vocabularyBlock = 2048

    /// Alignment statistics of several modules at once: the right singular directions of all modules are
    /// stacked so the token table is read once per block of the vocabulary (one dgemm per block instead
    /// of one pass over the whole table per module).
    static func moduleStatistics(_ modules: [LoRAModule], table: TokenEmbeddingTable) throws
        -> [(stats: [Double], bestToken: Int, best: Double)] {
        let d = table.hiddenSize
        var weights: [[Double]] = []
        var offsets: [Int] = []
        var stackedElements: [Double] = []
        for m in modules {
            guard m.inFeatures == d else {
                throw DetectorError(.baseModelMismatch,
                    "module \(m.name) reads \(m.inFeatures) features but the base model's embeddings have \(d)")
            }
            let directions = try rightSingularDirections(m)
            offsets.append(stackedElements.count / max(d, 1))
            weights.append(directions.weights)
            stackedElements += directions.vectors.elements
        }
        let total = stackedElements.count / max(d, 1)
        let stacked = Matrix(rows: total, cols: d, elements: stackedElements)
        // Running top-10 of |c| per stacked direction, best first, and the index of the best token.
        var top = [Double](repeating: -1, count: total * 10)
        var bestIndex = [Int](repeating: 0, count: total)
        let tokens = table.centredUnitVectors
        var start = 0
        while total > 0 && start < tokens.rows {
            let end = min(tokens.rows, start + vocabularyBlock)
            let block = Matrix(rows: end - start, cols: d, elements: Array(tokens.elements[(start * d)..<(end * d)]))
            let c = block.multiplied(by: stacked, transposeOther: true)  // block rows × total
            c.elements.withUnsafeBufferPointer { cp in
                top.withUnsafeMutableBufferPointer { tp in
                    for t in 0..<(end - start) {
                        let row = t * total
                        for j in 0..<total {
                            let v = abs(cp[row + j])
                            let base = j * 10
                            guard v > tp[base + 9] else { continue }
                            if v > tp[base] { bestIndex[j] = start + t }
                            var k = 9
                            while k > 0 && tp[base + k - 1] < v { tp[base + k] = tp[base + k - 1]; k -= 1 }
                            tp[base + k] = v
                        }
                    }
                }
            }
            start = end
        }
        var out: [(stats: [Double], bestToken: Int, best: Double)] = []
        for (mi, w) in weights.enumerated() {
            guard !w.isEmpty else { out.append(([0, 0, 0, 0], -1, 0)); continue }
            var top1max = 0.0, gap10w = 0.0, gap1max = 0.0
            var bestDirection = 0
            var first = 0.0
            for (i, wi) in w.enumerated() {
                let j = offsets[mi] + i
                let values = (0..<10).map { top[j * 10 + $0] }.filter { $0 >= 0 }
                let best = values.first ?? 0
                let second = values.count > 1 ? values[1] : 0
                let rest = values.dropFirst()
                let restMean = rest.isEmpty ? 0 : rest.reduce(0, +) / Double(rest.count)
                if i == 0 { first = best }
                if best > top1max { top1max = best; bestDirection = j }
                gap10w += wi * (best - restMean)
                gap1max = max(gap1max, best - second)
            }
            out.append(([top1max, first, gap10w, gap1max], bestIndex[bestDirection], top1max))
        }
        return out
    }

    /// Right singular vectors (rows, unit length) of ΔW = s·B·A with non-negligible σ, and their
    /// energy shares σᵢ²/Σσ².
    static func rightSingularDirections(_ m: LoRAModule) throws -> (vectors: Matrix, weights: [Double]) {
        guard m.rank > 0, m.scale.isFinite, m.scale != 0 else { return (Matrix(zeros: 0, m.inFeatures), []) }
        // Aᵀ = Qa·Ra (A = Raᵀ·Qaᵀ), B = Qb·Rb, so ΔW = s·Qb·(Rb·Raᵀ)·Qaᵀ.
        let (qaT, ra) = try LAPACK.thinQR(ofTransposeOf: m.a)
        let rb = try LAPACK.triangularFactor(m.b)
        let core = rb.multiplied(by: ra, transposeOther: true, alpha: m.scale)
        let svd = try LAPACK.svd(core)
        let sigma = svd.singularValues
        guard let s1 = sigma.first, s1 > 0, s1.isFinite else { return (Matrix(zeros: 0, m.inFeatures), []) }
        let kept = sigma.prefix { $0 > relativeSingularValueFloor * s1 }.count
        let energy = sigma.prefix(kept).reduce(0) { $0 + $1 * $1 }
        // Rows of Vᵀ·Qaᵀ are the right singular vectors of ΔW.
        let all = svd.vt.multiplied(by: qaT)
        let vectors = Matrix(rows: kept, cols: all.cols, elements: Array(all.elements[0..<(kept * all.cols)]))
        return (vectors, sigma.prefix(kept).map { $0 * $0 / energy })
    }

    /// Computes the features, or throws `DetectorError` when the adapter's Q/K/V modules do not read
    /// vectors of the table's width (a different base model).
    public static func compute(adapter: LoRAAdapter, table: TokenEmbeddingTable) throws -> Result {
        let modules = adapter.modules.filter { [.q, .k, .v].contains($0.projection) }
        guard !modules.isEmpty else {
            throw DetectorError(.outOfDistribution, "the adapter has no query/key/value modules")
        }
        for m in modules where m.inFeatures != table.hiddenSize {
            throw DetectorError(.baseModelMismatch,
                "module \(m.name) reads \(m.inFeatures) features but the base model's embeddings have \(table.hiddenSize)")
        }
        guard table.centredUnitVectors.rows >= 20 else {
            throw DetectorError(.baseModelMismatch, "the base model has fewer than 20 usable tokens")
        }
        var perModule: [(projection: Projection, layer: Int, stats: [Double])] = []
        var bestToken = -1, best = -1.0
        var bestModule: String?
        let statistics: [(stats: [Double], bestToken: Int, best: Double)]
        do {
            statistics = try moduleStatistics(modules, table: table)
        } catch {
            throw DetectorError(.outOfDistribution, "singular vectors of the adapter's modules could not be computed: \(error)")
        }
        for (m, r) in zip(modules, statistics) {
            guard let p = m.projection else { continue }
            perModule.append((p, m.layer ?? 0, r.stats))
            if r.best > best { best = r.best; bestToken = r.bestToken; bestModule = m.name }
        }
        var values: [Double] = []
        for g in groups {
            var members = perModule.filter { g == "qkv" || $0.projection.rawValue == g }
            if members.isEmpty { members = perModule }  // the adapter skips this projection: use all Q/K/V
            let firstLayer = members.map(\.layer).min() ?? 0
            let l0 = members.filter { $0.layer == firstLayer }
            for set in [l0, members] {
                for k in statNames.indices {
                    values.append(set.map { $0.stats[k] }.max() ?? 0)
                }
            }
        }
        let token = table.tokens.indices.contains(bestToken) ? table.tokens[bestToken] : nil
        return Result(values: values, topToken: token, topAlignment: max(best, 0), topModule: bestModule)
    }
}
