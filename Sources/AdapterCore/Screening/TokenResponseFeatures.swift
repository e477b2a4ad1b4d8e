import Foundation

/// Trigger-agnostic features from how strongly an adapter's query/key/value updates react to single
/// vocabulary tokens of its base model.
///
/// For each Q/K/V module with ΔW = s·B·A and each kept token vector x (rows of
/// `TokenEmbeddingTable.vectors`) the response is ‖ΔW x‖ = s·√(uᵀ(BᵀB)u) with u = A x, computed in
/// factored form (one r × vocabulary product per module, never a dense ΔW). A backdoor keyed to a rare
/// token tends to make that token's response stand out from the bulk of the vocabulary; the statistics
/// below measure that "stand-out" without knowing the trigger:
/// - `peak`: log(max / median) of the responses;
/// - `top1z`, `top10z`: the largest and the mean of the ten largest robust z-scores
///   (z = (r − median) / (1.4826·MAD));
/// - `kurtosis`: excess kurtosis of the responses.
/// Per projection these are taken at the first layer (`L0`), and the mean and max over layers.
/// `consensus.top1z`/`top10z` are the same stand-out measures of the per-token mean z-score over all
/// Q/K/V modules: a trigger token stands out in many modules at once, noise does not.
public enum TokenResponseFeatures {
    static let statNames = ["peak", "top1z", "top10z", "kurtosis"]
    static let projections: [Projection] = [.q, .k, .v]

    /// Feature names, in the order `compute` returns values.
    public static var names: [String] {
        var out: [String] = []
        for p in projections {
            for agg in ["L0", "mean", "max"] {
                for s in statNames { out.append("tokens.\(p.rawValue).\(agg).\(s)") }
            }
        }
        out += ["tokens.consensus.top1z", "tokens.consensus.top10z"]
        return out
    }

    /// What `compute` found besides the feature values: the token that stood out most across modules.
    public struct Result: Sendable {
        public var values: [Double]
        public var topToken: String?
        public var topTokenZ: Double
    }

    /// Computes the features, or throws `DetectorError` when the adapter's Q/K/V modules do not read
    /// vectors of the table's width (a different base model).
    public static func compute(adapter: LoRAAdapter, table: TokenEmbeddingTable) throws -> Result {
        let modules = adapter.modules.filter {
            guard let p = $0.projection else { return false }
            return projections.contains(p)
        }
        guard !modules.isEmpty else {
            throw DetectorError(.outOfDistribution, "the adapter has no query/key/value modules")
        }
        for m in modules where m.inFeatures != table.hiddenSize {
            throw DetectorError(.baseModelMismatch,
                "module \(m.name) reads \(m.inFeatures) features but the base model's embeddings have \(table.hiddenSize)")
        }
        let vocab = table.vectors.rows
        guard vocab >= 20 else { throw DetectorError(.baseModelMismatch, "the base model has fewer than 20 usable tokens") }
        let responses = try Self.responses(of: modules, table: table)

        // Per-module statistics and robust z-scores.
        var stats: [[Double]] = []
        var meanZ = [Double](repeating: 0, count: vocab)
        for r in responses {
            let (s, z) = moduleStatistics(r)
            stats.append(s)
            for t in 0..<vocab { meanZ[t] += z[t] / Double(responses.count) }
        }

        var values: [Double] = []
        for p in projections {
            let idx = modules.indices.filter { modules[$0].projection == p }
            let firstLayer = idx.min { (modules[$0].layer ?? Int.max) < (modules[$1].layer ?? Int.max) }
            for agg in 0..<3 {
                for k in 0..<statNames.count {
                    let column = idx.map { stats[$0][k] }
                    if column.isEmpty { values.append(0); continue }
                    switch agg {
                    case 0: values.append(firstLayer.map { stats[$0][k] } ?? 0)
                    case 1: values.append(column.reduce(0, +) / Double(column.count))
                    default: values.append(column.max() ?? 0)
                    }
                }
            }
        }
        let (consensus, zc) = moduleStatistics(meanZ)
        values += [consensus[1], consensus[2]]
        var best = 0
        for t in 0..<vocab where zc[t] > zc[best] { best = t }
        return Result(values: values, topToken: table.tokens.indices.contains(best) ? table.tokens[best] : nil,
                      topTokenZ: zc[best])
    }

    /// ‖ΔW x‖ of each module (rows) for every token vector x of `table` (columns), in vocabulary chunks
    /// to bound memory. The modules must read vectors of the table's width.
    ///
    /// With B = Q·R (thin QR, R r×r), ‖s·B·A x‖ = ‖(s·R·A) x‖: the stacked r × width matrices s·R·A of
    /// all modules take the vocabulary in one product per chunk, and each response is the norm of its
    /// module's r rows of that product (O(r) per token, not the O(r²) of the Gram form uᵀ(BᵀB)u).
    static func responses(of modules: [LoRAModule], table: TokenEmbeddingTable) throws -> [[Double]] {
        let vocab = table.vectors.rows
        var responses = [[Double]](repeating: [Double](repeating: 0, count: vocab), count: modules.count)
        var blocks: [Double] = []
        var offsets: [Int] = []
        var ranks: [Int] = []
        for m in modules {
            offsets.append(blocks.count / max(table.hiddenSize, 1))
            let r = try LAPACK.triangularFactor(m.b)  // min(out, rank) × rank
            blocks += r.multiplied(by: m.a, alpha: m.scale).elements
            ranks.append(r.rows)
        }
        let stacked = Matrix(rows: blocks.count / max(table.hiddenSize, 1), cols: table.hiddenSize, elements: blocks)
        let chunk = 4096
        var squares = [Double](repeating: 0, count: chunk)   // one module's Σ of squares per token, reused
        var start = 0
        while start < vocab {
            let end = min(vocab, start + chunk)
            let block = Matrix(rows: end - start, cols: table.hiddenSize,
                               elements: Array(table.vectors.elements[(start * table.hiddenSize)..<(end * table.hiddenSize)]))
            let u = stacked.multiplied(by: block, transposeOther: true)  // Σr × chunk
            let width = end - start
            u.elements.withUnsafeBufferPointer { up in
                for mi in modules.indices {
                    for t in 0..<width { squares[t] = 0 }
                    for a in 0..<ranks[mi] {
                        let row = (offsets[mi] + a) * width
                        for t in 0..<width { squares[t] += up[row + t] * up[row + t] }
                    }
                    for t in 0..<width { responses[mi][start + t] = squares[t].squareRoot() }
                }
            }
            start = end
        }
        return responses
    }

    /// [peak, top1z, top10z, kurtosis] of one response distribution, and its robust z-scores.
    static func moduleStatistics(_ r: [Double]) -> ([Double], [Double]) {
        let n = r.count
        let sorted = r.sorted()
        let median = quantileOfSorted(sorted, 0.5)
        let deviations = r.map { abs($0 - median) }.sorted()
        let mad = 1.4826 * quantileOfSorted(deviations, 0.5)
        let spread = mad > 1e-300 ? mad : max(1e-300, (sorted[n - 1] - sorted[0]) / 2 + 1e-300)
        let z = r.map { ($0 - median) / spread }
        let top = Array(sorted.suffix(10).reversed())
        let maxValue = sorted[n - 1]
        let peak = log((maxValue + 1e-300) / (abs(median) + 1e-300))
        let top1z = (top[0] - median) / spread
        let top10z = top.reduce(0) { $0 + ($1 - median) / spread } / Double(top.count)
        var mean = 0.0
        for v in r { mean += v }
        mean /= Double(n)
        var m2 = 0.0, m4 = 0.0
        for v in r { let d = v - mean; let d2 = d * d; m2 += d2; m4 += d2 * d2 }
        m2 /= Double(n)
        m4 /= Double(n)
        let kurtosis = m2 > 0 ? m4 / (m2 * m2) - 3 : 0
        return ([peak, top1z, top10z, kurtosis], z)
    }

    static func quantileOfSorted(_ s: [Double], _ q: Double) -> Double {
        guard !s.isEmpty else { return 0 }
        let pos = q * Double(s.count - 1)
        let lo = Int(pos.rounded(.down)), hi = Int(pos.rounded(.up))
        return s[lo] + (s[hi] - s[lo]) * (pos - Double(lo))
    }
}
