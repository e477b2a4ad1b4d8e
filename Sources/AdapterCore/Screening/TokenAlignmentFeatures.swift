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
    /// Tokens kept per direction from the single-precision pass, of which the best 10 are used.
    static let shortlistSize = 16

    /// Alignment statistics of several modules at once: the right singular directions of all modules are
    /// stacked so the token table is read once per block of the vocabulary (one product per block instead
    /// of one pass over the whole table per module).
    ///
    /// The vocabulary is read in single precision (`TokenEmbeddingTable.centredUnitFloats`), which
    /// only shortlists each direction's `shortlistSize` best tokens; their alignments are then computed
    /// again in double precision. That gives the double-precision top 10 exactly when the 10th best is
    /// above the worst shortlisted single-precision value by more than the single-precision error bound
    /// of a dot product of two unit vectors (`singlePrecisionErrorBound`); a direction where it is not
    /// (near-ties at the cut) is read again over the whole vocabulary in double precision.
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
        let shortlists = shortlist(directions: stackedElements.map(Float.init), count: total, table: table)
        // The 10 best |c| per stacked direction in double precision, best first, and the best token.
        var top = [Double](repeating: -1, count: total * 10)
        var bestIndex = [Int](repeating: 0, count: total)
        for j in 0..<total {
            let direction = stackedElements[(j * d)..<((j + 1) * d)]
            let exact = exactTop10(of: direction, shortlist: shortlists[j], table: table)
            for (k, value) in exact.values.enumerated() { top[j * 10 + k] = value }
            bestIndex[j] = exact.best
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

    /// A bound on |⟨v, x⟩ − fl32(⟨v, x⟩)| for vectors of width `d` and norm at most 1.01, rounded to
    /// single precision and multiplied in it: γ_{d+2}·‖v‖‖x‖ with unit roundoff u = 2⁻²⁴, doubled for margin.
    static func singlePrecisionErrorBound(width d: Int) -> Double {
        let u = Double(Float.ulpOfOne) / 2
        return 2 * Double(d + 2) * u * 1.01 * 1.01
    }

    /// Each direction's `shortlistSize` best tokens by |c| computed in single precision, with those values
    /// (best first).
    static func shortlist(directions: [Float], count total: Int, table: TokenEmbeddingTable)
        -> [(tokens: [Int], values: [Float])] {
        let d = table.hiddenSize, vocabulary = table.vectors.rows, size = shortlistSize
        var values = [Float](repeating: -1, count: total * size)
        var tokens = [Int](repeating: -1, count: total * size)
        guard total > 0, vocabulary > 0 else { return Array(repeating: ([], []), count: total) }
        var c = [Float](repeating: 0, count: min(vocabulary, vocabularyBlock) * total)
        table.centredUnitFloats.withUnsafeBufferPointer { table in
            c.withUnsafeMutableBufferPointer { cp in
                values.withUnsafeMutableBufferPointer { vp in
                    tokens.withUnsafeMutableBufferPointer { tp in
                        var start = 0
                        while start < vocabulary {
                            let rows = min(vocabulary, start + vocabularyBlock) - start
                            // c (rows × total) = this block of the table · directionsᵀ.
                            FloatKernels.linear(table.baseAddress! + start * d, rows: rows, inputs: d, weight: directions,
                                                bias: nil, into: cp.baseAddress!, outputs: total)
                            for t in 0..<rows {
                                for j in 0..<total {
                                    let v = abs(cp[t * total + j])
                                    let base = j * size
                                    guard v > vp[base + size - 1] else { continue }
                                    var k = size - 1
                                    while k > 0 && vp[base + k - 1] < v {
                                        vp[base + k] = vp[base + k - 1]
                                        tp[base + k] = tp[base + k - 1]
                                        k -= 1
                                    }
                                    vp[base + k] = v
                                    tp[base + k] = start + t
                                }
                            }
                            start += rows
                        }
                    }
                }
            }
        }
        return (0..<total).map { j in
            let range = (j * size)..<((j + 1) * size)
            let kept = zip(tokens[range], values[range]).filter { $0.0 >= 0 }
            return (kept.map(\.0), kept.map(\.1))
        }
    }

    /// The 10 best |⟨direction, x⟩| over the vocabulary in double precision (fewer when the vocabulary
    /// is smaller), best first, and the token of the best (ties: the lowest row). Taken from the
    /// shortlist when its cut is clear of the single-precision error, else from the whole vocabulary.
    static func exactTop10(of direction: ArraySlice<Double>, shortlist: (tokens: [Int], values: [Float]),
                           table: TokenEmbeddingTable) -> (values: [Double], best: Int, fromShortlist: Bool) {
        func alignment(_ t: Int) -> Double {
            var sum = 0.0
            for (x, v) in zip(table.centredUnitVector(t), direction) { sum += x * v }
            return abs(sum)
        }
        func top10(_ candidates: [Int]) -> (values: [Double], best: Int) {
            let ranked = candidates.map { ($0, alignment($0)) }.sorted { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
            return (ranked.prefix(10).map(\.1), ranked.first?.0 ?? 0)
        }
        let vocabulary = table.vectors.rows
        let fromShortlist = top10(shortlist.tokens)
        if shortlist.tokens.count == vocabulary { return (fromShortlist.values, fromShortlist.best, true) }
        if fromShortlist.values.count == 10, let cut = shortlist.values.last,
           fromShortlist.values[9] > Double(cut) + singlePrecisionErrorBound(width: table.hiddenSize) {
            return (fromShortlist.values, fromShortlist.best, true)
        }
        let all = top10(Array(0..<vocabulary))
        return (all.values, all.best, false)
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
        guard table.vectors.rows >= 20 else {
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
