import COpenBLAS

/// Cosine similarity of tasks' updates across all modules, computed in factored form:
/// cos(i, j) = Σ_modules ⟨ΔWᵢ, ΔWⱼ⟩ / (‖ΔWᵢ‖ ‖ΔWⱼ‖), with ‖ΔW‖² = Σ_modules ‖ΔW‖²_F.
///
/// Per module, the scaled factors of all tasks are stacked (Σr × out and Σr × in) and two Gram
/// matrices are formed block by block with dgemm; ⟨ΔWᵢ, ΔWⱼ⟩ is the sum of the elementwise product of
/// their (rᵢ × rⱼ) blocks. No out×in matrix is ever formed, and memory stays bounded by the block size.
public struct TaskSimilarity: Sendable, Equatable {
    /// Task names, in the order of the matrix rows.
    public let names: [String]
    /// Gram matrix of the updates, row-major N × N: `inner[i*N + j]` = Σ_modules ⟨ΔWᵢ, ΔWⱼ⟩.
    public let inner: [Double]

    public var count: Int { names.count }

    /// ‖ΔWᵢ‖ over all modules.
    public func norm(_ i: Int) -> Double { inner[i * count + i].squareRoot() }

    /// Cosine similarity of tasks i and j (1 on the diagonal; 0 when either update is zero).
    public func cosine(_ i: Int, _ j: Int) -> Double {
        if i == j { return 1 }
        let denominator = norm(i) * norm(j)
        guard denominator > 0 else { return 0 }
        return min(1, max(-1, inner[i * count + j] / denominator))
    }

    /// The symmetric N × N cosine matrix, row-major.
    public var cosineMatrix: [Double] {
        var out = [Double](repeating: 0, count: count * count)
        for i in 0..<count { for j in 0..<count { out[i * count + j] = cosine(i, j) } }
        return out
    }

    /// Cosine distance 1 − cos(i, j), in [0, 2]: the distance used by k-medoids.
    public func distance(_ i: Int, _ j: Int) -> Double { 1 - cosine(i, j) }

    /// The N × N distance matrix, row-major.
    public var distanceMatrix: [Double] { cosineMatrix.map { 1 - $0 } }

    public init(names: [String], inner: [Double]) {
        self.names = names
        self.inner = inner
    }

    /// Computes the similarity of the given tasks' adapters, which must share one base-model profile.
    /// - Parameter blockRank: at most this many stacked rank rows per Gram block (bounds memory).
    public static func compute(
        names: [String], adapters: [LoRAAdapter], blockRank: Int = 2048
    ) throws -> TaskSimilarity {
        guard names.count == adapters.count else {
            throw ClusteringError(.invalidArgument, "\(names.count) task names for \(adapters.count) adapters")
        }
        guard Set(names).count == names.count else {
            throw ClusteringError(.invalidArgument, "task names must be unique")
        }
        try AdapterProfileCheck.requireSameProfile(adapters, names: names)
        let n = adapters.count
        var gram = [Double](repeating: 0, count: n * n)
        guard let first = adapters.first else { return TaskSimilarity(names: names, inner: gram) }

        for template in first.modules {
            // Every adapter has this module (same profile); look it up by name.
            let modules: [LoRAModule] = adapters.map { adapter in
                adapter.modules.first { $0.name == template.name } ?? template
            }
            accumulate(modules: modules, into: &gram, blockRank: max(1, blockRank))
        }
        return TaskSimilarity(names: names, inner: gram)
    }

    /// Adds Σ ⟨ΔWᵢ, ΔWⱼ⟩ of one module position for every pair to `gram`.
    private static func accumulate(modules: [LoRAModule], into gram: inout [Double], blockRank: Int) {
        let n = modules.count
        let outDim = modules[0].outFeatures
        let inDim = modules[0].inFeatures
        var offsets = [Int](repeating: 0, count: n + 1)
        for i in 0..<n { offsets[i + 1] = offsets[i] + modules[i].rank }
        let total = offsets[n]
        guard total > 0 else { return }
        // Stacked scale·Bᵢᵀ (total × out) and Aᵢ (total × in).
        var bt = [Double](repeating: 0, count: total * outDim)
        var a = [Double](repeating: 0, count: total * inDim)
        for (i, module) in modules.enumerated() {
            let r = module.rank
            let s = module.scale
            for row in 0..<module.b.rows {
                for c in 0..<r { bt[(offsets[i] + c) * outDim + row] = s * module.b.elements[row * r + c] }
            }
            for c in 0..<(r * inDim) { a[offsets[i] * inDim + c] = module.a.elements[c] }
        }
        // Blocks of whole tasks with at most blockRank stacked rows (at least one task each).
        var blocks: [Range<Int>] = []
        var start = 0
        while start < n {
            var end = start + 1
            while end < n && offsets[end + 1] - offsets[start] <= blockRank { end += 1 }
            blocks.append(start..<end)
            start = end
        }
        for (bi, rowBlock) in blocks.enumerated() {
            for colBlock in blocks[bi...] {
                let r0 = offsets[rowBlock.lowerBound], r1 = offsets[rowBlock.upperBound]
                let c0 = offsets[colBlock.lowerBound], c1 = offsets[colBlock.upperBound]
                let m = r1 - r0, k = c1 - c0
                if m == 0 || k == 0 { continue }
                let gb = gemmRowsByRows(bt, width: outDim, rows: r0..<r1, cols: c0..<c1)
                let ga = gemmRowsByRows(a, width: inDim, rows: r0..<r1, cols: c0..<c1)
                for i in rowBlock {
                    for j in colBlock where j >= i {  // diagonal block: upper half only
                        var sum = 0.0
                        for p in (offsets[i] - r0)..<(offsets[i + 1] - r0) {
                            let base = p * k
                            for q in (offsets[j] - c0)..<(offsets[j + 1] - c0) { sum += gb[base + q] * ga[base + q] }
                        }
                        gram[i * n + j] += sum
                        if i != j { gram[j * n + i] += sum }
                    }
                }
            }
        }
    }

    /// X[rows] · X[cols]ᵀ for a row-major matrix X of the given width: a (rows.count × cols.count) product.
    private static func gemmRowsByRows(_ x: [Double], width: Int, rows: Range<Int>, cols: Range<Int>) -> [Double] {
        let m = rows.count, k = cols.count
        var out = [Double](repeating: 0, count: m * k)
        x.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { c in
                guard let base = p.baseAddress else { return }
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(k), Int32(width), 1,
                            base + rows.lowerBound * width, Int32(width),
                            base + cols.lowerBound * width, Int32(width),
                            0, c.baseAddress, Int32(k))
            }
        }
        return out
    }
}
