import Synchronization

/// The Gram blocks BᵢᵀBⱼ and AᵢAⱼᵀ of a group's tasks, module by module, each computed once and then
/// shared by every merge and rank curve of a plan that stacks both tasks.
///
/// A merge of a member set S needs, per module, the Grams of S's stacked factors (`GramCore`); every
/// one of them is made of these pairwise blocks. A plan merges the same tasks in many sets (every
/// cluster of every candidate K, then every task beside every candidate cluster while refining), so
/// computing a pair's blocks once turns most of the (out + in)·R²/2 work of each merge into copying.
/// Blocks are kept up to `byteLimit` (every pair of N tasks of rank r: N(N+1)·r²·8 bytes per module,
/// whatever its width); past it a set's Grams are computed as before and not kept. Safe to share between
/// copies of a `RankAllocatingPlanner.CurveBook` and across threads. Groups that stack the same
/// adapters in other lists (the placements of a burst of installs) share blocks through
/// `SharedGramBlocks`.
public final class FactorGrams: Sendable {
    /// Blocks by module and a pair of task keys (the smaller key first), within a byte limit: one
    /// group's own, or shared across groups (`SharedGramBlocks`).
    final class BlockStore: Sendable {
        struct Key: Hashable {
            let module: Int
            let first: Int
            let second: Int
        }

        struct Blocks {
            var columns: [Key: [Double]] = [:]
            var rows: [Key: [Double]] = [:]
            var bytes = 0
        }

        let byteLimit: Int
        let blocks = Mutex(Blocks())

        init(byteLimit: Int) { self.byteLimit = byteLimit }

        /// Keeps a block pair under `key` (row-major, the smaller key's rows), unless kept already or
        /// past the byte limit.
        func keep(_ key: Key, columns: [Double], rows: [Double]) {
            blocks.withLock { blocks in
                let size = (columns.count + rows.count) * MemoryLayout<Double>.stride
                guard blocks.columns[key] == nil, blocks.bytes + size <= byteLimit else { return }
                blocks.columns[key] = columns
                blocks.rows[key] = rows
                blocks.bytes += size
            }
        }
    }

    /// Each task's modules, one list per task, all in the same order with the same shapes.
    let modules: [[LoRAModule]]
    /// Each task's key in `store`: its index, or the shared store's key of its adapter.
    private let keys: [Int]
    private let store: BlockStore

    /// nil when the tasks' adapters do not list the same modules (names, shapes) in the same order, as
    /// tasks of one mergeable group (padded to their module union) do, or hold a split fused projection
    /// (merged by `AdapterMerger` as one unit, not module by module). With `shared`, blocks are read
    /// from and kept in it (its byte limit applies), by adapter, for other groups of the same adapters.
    public init?(adapters: [LoRAAdapter], byteLimit: Int = 512 << 20, shared: SharedGramBlocks? = nil) {
        guard let first = adapters.first, !first.modules.contains(where: { $0.name.contains("#") }) else { return nil }
        for adapter in adapters.dropFirst() {
            guard adapter.modules.count == first.modules.count else { return nil }
            for (m, module) in adapter.modules.enumerated() {
                let reference = first.modules[m]
                guard module.name == reference.name, module.inFeatures == reference.inFeatures,
                      module.outFeatures == reference.outFeatures else { return nil }
            }
        }
        modules = adapters.map(\.modules)
        if let shared {
            keys = adapters.map(shared.key(of:))
            store = shared.store
        } else {
            keys = Array(adapters.indices)
            store = BlockStore(byteLimit: byteLimit)
        }
    }

    /// Bytes of blocks kept (in the shared store: of every group using it).
    public var keptBytes: Int { store.blocks.withLock { $0.bytes } }

    /// G_B = B̂ᵀB̂ and G_A = ÂÂᵀ of module `module` for `members` stacked in the order given (R×R each,
    /// R = Σ of their ranks). Blocks not kept are computed pair by pair where that is less than half
    /// the work of one Gram of the whole stack (a task joining kept ones), else by that Gram.
    func grams(module: Int, members: [Int]) -> (columns: Matrix, rows: Matrix) {
        let ranks = members.map { modules[$0][module].rank }
        let total = ranks.reduce(0, +)
        var offsets: [Int] = []
        var offset = 0
        for r in ranks { offsets.append(offset); offset += r }
        // One pass under the lock: the kept blocks in place, the pairs not kept listed.
        var gramB = Matrix(zeros: total, total)
        var gramA = Matrix(zeros: total, total)
        var missing: [(i: Int, j: Int)] = []
        store.blocks.withLock { blocks in
            for i in members.indices {
                for j in i..<members.count {
                    let key = self.key(module, members[i], members[j])
                    guard let columns = blocks.columns[key], let rows = blocks.rows[key] else {
                        missing.append((i, j))
                        continue
                    }
                    // The block is kept for the smaller key first; transpose when reversed.
                    let reversed = keys[members[i]] > keys[members[j]]
                    Self.place(columns, into: &gramB, at: offsets[i], offsets[j], ranks[i], ranks[j], reversed)
                    Self.place(rows, into: &gramA, at: offsets[i], offsets[j], ranks[i], ranks[j], reversed)
                }
            }
        }
        if missing.isEmpty { return (gramB, gramA) }
        let missingWork = missing.reduce(0) { $0 + ranks[$1.i] * ranks[$1.j] }
        if 4 * missingWork <= total * total {
            for (i, j) in missing {
                // The smaller key's factors on the left: the block as it is kept.
                let (low, high) = keys[members[i]] <= keys[members[j]] ? (i, j) : (j, i)
                let pair = FactoredUpdates.blocks(modules[members[low]][module], modules[members[high]][module])
                let (columns, rows) = (pair.columns.elements, pair.rows.elements)
                Self.place(columns, into: &gramB, at: offsets[low], offsets[high], ranks[low], ranks[high], false)
                Self.place(rows, into: &gramA, at: offsets[low], offsets[high], ranks[low], ranks[high], false)
                store.keep(key(module, members[low], members[high]), columns: columns, rows: rows)
            }
            return (gramB, gramA)
        }
        // One dsyrk of the whole stack (what a merge computed before), its blocks kept.
        let updates = members.map { LowRankUpdate(unchecked: modules[$0][module].b, modules[$0][module].a, 1) }
        gramB = LAPACK.gramOfColumns(LowRank.stackedColumns(updates))
        gramA = LAPACK.gramOfRows(LowRank.stackedRows(updates))
        keep(module: module, members: members, ranks: ranks, offsets: offsets, gramB: gramB, gramA: gramA)
        return (gramB, gramA)
    }

    /// Keeps the blocks of the tasks `first` ≤ `second` of module `module` computed elsewhere (by
    /// `TaskSimilarity`): `columns` = B_firstᵀB_second and `rows` = A_first A_secondᵀ, row-major
    /// r_first × r_second. Within the byte limit; a block already kept stays.
    func keep(module: Int, first: Int, second: Int, columns: [Double], rows: [Double]) {
        precondition(first <= second, "blocks are kept for the smaller task index first")
        if keys[first] <= keys[second] {
            store.keep(key(module, first, second), columns: columns, rows: rows)
        } else {
            let (r, c) = (modules[first][module].rank, modules[second][module].rank)
            store.keep(key(module, first, second), columns: LAPACK.transposedCopy(columns, rows: r, cols: c),
                       rows: LAPACK.transposedCopy(rows, rows: r, cols: c))
        }
    }

    private func keep(module: Int, members: [Int], ranks: [Int], offsets: [Int], gramB: Matrix, gramA: Matrix) {
        for i in members.indices {
            for j in i..<members.count {
                let reversed = keys[members[i]] > keys[members[j]]
                store.keep(key(module, members[i], members[j]),
                           columns: Self.block(of: gramB, at: offsets[i], offsets[j], ranks[i], ranks[j], reversed),
                           rows: Self.block(of: gramA, at: offsets[i], offsets[j], ranks[i], ranks[j], reversed))
            }
        }
    }

    /// The store's key of tasks `a` and `b`'s blocks of `module`.
    private func key(_ module: Int, _ a: Int, _ b: Int) -> BlockStore.Key {
        BlockStore.Key(module: module, first: min(keys[a], keys[b]), second: max(keys[a], keys[b]))
    }

    /// The block of the task with the smaller key (rows) against the other (columns), row-major.
    private static func block(of gram: Matrix, at rowOffset: Int, _ colOffset: Int, _ rowCount: Int, _ colCount: Int,
                              _ reversed: Bool) -> [Double] {
        let n = gram.cols
        var block = [Double](repeating: 0, count: rowCount * colCount)
        if reversed {
            // Kept as (second, first): the transpose of the block at (rowOffset, colOffset).
            for r in 0..<colCount { for c in 0..<rowCount { block[r * rowCount + c] = gram.elements[(rowOffset + c) * n + colOffset + r] } }
        } else {
            for r in 0..<rowCount { for c in 0..<colCount { block[r * colCount + c] = gram.elements[(rowOffset + r) * n + colOffset + c] } }
        }
        return block
    }

    /// Writes a kept block at (rowOffset, colOffset) and its transpose at (colOffset, rowOffset).
    private static func place(_ block: [Double], into gram: inout Matrix, at rowOffset: Int, _ colOffset: Int,
                              _ rowCount: Int, _ colCount: Int, _ reversed: Bool) {
        let n = gram.cols
        for r in 0..<rowCount {
            for c in 0..<colCount {
                let value = reversed ? block[c * rowCount + r] : block[r * colCount + c]
                gram.elements[(rowOffset + r) * n + colOffset + c] = value
                gram.elements[(colOffset + c) * n + rowOffset + r] = value
            }
        }
    }
}
