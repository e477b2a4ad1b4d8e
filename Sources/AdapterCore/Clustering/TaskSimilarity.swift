import COpenBLAS

/// Cosine similarity of tasks' updates across all modules, computed in factored form:
/// cos(i, j) = Σ_modules ⟨ΔWᵢ, ΔWⱼ⟩ / (‖ΔWᵢ‖ ‖ΔWⱼ‖), with ‖ΔW‖² = Σ_modules ‖ΔW‖²_F.
///
/// Per module, the factors of all tasks are stacked (B̂ = [B₁ … B_N], out × Σr, and Â = [A₁; …; A_N],
/// Σr × in) and the two Gram matrices B̂ᵀB̂ and ÂÂᵀ are formed with a few large products: dsyrk on the
/// diagonal blocks (half the work of a general product), dgemm between blocks. ⟨ΔWᵢ, ΔWⱼ⟩ = sᵢsⱼ times
/// the sum of the elementwise product of their (rᵢ × rⱼ) blocks. No out×in matrix is ever formed, and
/// memory stays bounded by the block size. A task that arrives later is added with N + 1 inner
/// products per module (`adding`), not N².
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
    /// - Parameters:
    ///   - blockRank: at most this many stacked rank rows per Gram block (bounds memory).
    ///   - grams: the same tasks' `FactorGrams` (same order), which keep the pairwise Gram blocks
    ///     computed here, so that the rank curves of a plan do not compute them again.
    public static func compute(
        names: [String], adapters: [LoRAAdapter], blockRank: Int = 2048, keeping grams: FactorGrams? = nil
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
        let byName = adapters.map(Self.modulesByName)
        // Each module's products on `ComputeThreads` threads, summed in module order.
        let perModule = try ParallelLoop.map(first.modules.count) { index in
            let template = first.modules[index]
            // Every adapter has this module (same profile).
            let modules = byName.map { $0[template.name] ?? template }
            var local = [Double](repeating: 0, count: n * n)
            accumulate(modules: modules, into: &local, blockRank: max(1, blockRank), keep: grams.map { grams in
                { i, j, columns, rows in grams.keep(module: index, first: i, second: j, columns: columns, rows: rows) }
            })
            return local
        }
        for local in perModule {
            for e in gram.indices { gram[e] += local[e] }
        }
        return TaskSimilarity(names: names, inner: gram)
    }

    /// This similarity with one more task, appended last: its inner products with the N tasks here and
    /// itself, N + 1 pairs of small products per module rather than the (N + 1)² pairs of `compute`. The entries between the tasks already here are kept as they are.
    /// - Parameters:
    ///   - adapters: the adapters of the tasks already here, in the order of `names`.
    public func adding(name: String, adapter: LoRAAdapter, to adapters: [LoRAAdapter]) throws -> TaskSimilarity {
        guard adapters.count == count else {
            throw ClusteringError(.invalidArgument, "\(adapters.count) adapters for the \(count) tasks of the similarity")
        }
        guard !names.contains(name) else {
            throw ClusteringError(.invalidArgument, "task '\(name)' is already in the similarity")
        }
        try AdapterProfileCheck.requireSameProfile(adapters + [adapter], names: names + [name])
        let n = count, m = n + 1
        var row = [Double](repeating: 0, count: m)
        let byName = adapters.map(Self.modulesByName)
        for module in adapter.modules {
            let others = byName.map { $0[module.name] ?? module }
            Self.accumulateRow(new: module, others: others, into: &row)
        }
        var grown = [Double](repeating: 0, count: m * m)
        for i in 0..<n {
            for j in 0..<n { grown[i * m + j] = inner[i * n + j] }
            grown[i * m + n] = row[i]
            grown[n * m + i] = row[i]
        }
        grown[n * m + n] = row[n]
        return TaskSimilarity(names: names + [name], inner: grown)
    }

    /// This similarity without the task `name` (its row and column dropped; nothing is recomputed).
    public func removing(name: String) throws -> TaskSimilarity {
        guard let gone = names.firstIndex(of: name) else {
            throw ClusteringError(.invalidArgument, "task '\(name)' is not in the similarity")
        }
        let kept = names.indices.filter { $0 != gone }
        var smaller: [Double] = []
        smaller.reserveCapacity(kept.count * kept.count)
        for i in kept { for j in kept { smaller.append(inner[i * count + j]) } }
        return TaskSimilarity(names: kept.map { names[$0] }, inner: smaller)
    }

    private static func modulesByName(_ adapter: LoRAAdapter) -> [String: LoRAModule] {
        var byName: [String: LoRAModule] = [:]
        for module in adapter.modules { byName[module.name] = module }
        return byName
    }

    /// Adds Σ ⟨ΔWᵢ, ΔWⱼ⟩ of one module position for every pair to `gram`, and, when `keep` is given,
    /// hands it each pair's blocks (i ≤ j: BᵢᵀBⱼ and AᵢAⱼᵀ, rᵢ × rⱼ, row-major).
    private static func accumulate(modules: [LoRAModule], into gram: inout [Double], blockRank: Int,
                                   keep: ((Int, Int, [Double], [Double]) -> Void)?) {
        let n = modules.count
        var offsets = [Int](repeating: 0, count: n + 1)
        for i in 0..<n { offsets[i + 1] = offsets[i] + modules[i].rank }
        let total = offsets[n]
        guard total > 0 else { return }
        let updates = modules.map(\.update)
        let b = LowRank.stackedColumns(updates)   // out × total
        let a = LowRank.stackedRows(updates)      // total × in
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
                // Column-major m×k blocks: element (p, q) at p + q·m (on the diagonal, upper triangle only).
                let diagonal = rowBlock == colBlock
                let gb = blockGram(b, .columns, rows: r0..<r1, cols: c0..<c1, diagonal: diagonal)
                let ga = blockGram(a, .rows, rows: r0..<r1, cols: c0..<c1, diagonal: diagonal)
                for i in rowBlock {
                    for j in colBlock where j >= i {
                        var sum = 0.0
                        let ps = (offsets[i] - r0)..<(offsets[i + 1] - r0)
                        let qs = (offsets[j] - c0)..<(offsets[j + 1] - c0)
                        gb.withUnsafeBufferPointer { gbp in
                            ga.withUnsafeBufferPointer { gap in
                                for q in qs {
                                    for p in ps where !diagonal || i != j || p <= q {
                                        let term = gbp[p + q * m] * gap[p + q * m]
                                        sum += (diagonal && i == j && p != q) ? 2 * term : term
                                    }
                                }
                            }
                        }
                        sum *= modules[i].scale * modules[j].scale
                        gram[i * n + j] += sum
                        if i != j { gram[j * n + i] += sum }
                        keep?(i, j, pairBlock(gb, m: m, rows: ps, cols: qs, upperOnly: diagonal),
                              pairBlock(ga, m: m, rows: ps, cols: qs, upperOnly: diagonal))
                    }
                }
            }
        }
    }

    /// The rows × cols block of a column-major block Gram (leading dimension m), row-major. `upperOnly`:
    /// a diagonal block, of which dsyrk wrote the upper triangle only (an entry below it is read from its
    /// mirror).
    private static func pairBlock(_ g: [Double], m: Int, rows: Range<Int>, cols: Range<Int>, upperOnly: Bool) -> [Double] {
        var block = [Double](repeating: 0, count: rows.count * cols.count)
        for (r, p) in rows.enumerated() {
            for (c, q) in cols.enumerated() {
                block[r * cols.count + c] = upperOnly && p > q ? g[q + p * m] : g[p + q * m]
            }
        }
        return block
    }

    /// Adds ⟨ΔW_new, ΔWᵢ⟩ of one module position to row[i] for every other task i, and ‖ΔW_new‖² to
    /// row[others.count]: two r × rᵢ products per task (`FactoredUpdates.inner`), nothing stacked.
    private static func accumulateRow(new module: LoRAModule, others: [LoRAModule], into row: inout [Double]) {
        guard module.rank > 0 else { return }
        for (i, other) in others.enumerated() where other.rank > 0 {
            row[i] += FactoredUpdates.inner(module, other)
        }
        row[others.count] += FactoredUpdates.inner(module, module)
    }

    /// Which blocks of a stacked factor a Gram pairs: B̂'s columns or Â's rows.
    private enum GramSide { case columns, rows }

    /// B̂[:, rows]ᵀ · B̂[:, cols] for row-major B̂ (out × total), or Â[rows, :] · Â[cols, :]ᵀ for row-major
    /// Â (total × in); column-major, dsyrk (upper) when the ranges are the same.
    ///
    /// Row-major B̂ is the column-major Y = B̂ᵀ (total × out, ld total), whose rows are columns of B̂;
    /// row-major Â is the column-major Z = Âᵀ (in × total, ld in), whose columns are rows of Â.
    private static func blockGram(_ x: Matrix, _ side: GramSide, rows: Range<Int>, cols: Range<Int>,
                             diagonal: Bool) -> [Double] {
        let m = rows.count, k = cols.count
        // The length of each dot product, how far apart the blocks start, and how BLAS reads the first operand.
        let (inner, blockStride, transpose, other) = side == .columns
            ? (x.rows, 1, CblasNoTrans, CblasTrans) : (x.cols, x.cols, CblasTrans, CblasNoTrans)
        var out = [Double](repeating: 0, count: m * k)
        x.elements.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { c in
                guard let base = p.baseAddress, inner > 0 else { return }
                let ld = Int32(x.cols)
                let first = base + rows.lowerBound * blockStride
                if diagonal {
                    cblas_dsyrk(CblasColMajor, CblasUpper, transpose, Int32(m), Int32(inner), 1,
                                first, ld, 0, c.baseAddress, Int32(m))
                } else {
                    cblas_dgemm(CblasColMajor, transpose, other, Int32(m), Int32(k), Int32(inner), 1,
                                first, ld, base + cols.lowerBound * blockStride, ld, 0, c.baseAddress, Int32(m))
                }
            }
        }
        return out
    }
}
