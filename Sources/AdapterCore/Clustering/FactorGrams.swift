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
/// copies of a `RankAllocatingPlanner.CurveBook` and across threads.
public final class FactorGrams: Sendable {
    private struct Key: Hashable {
        let module: Int
        let first: Int
        let second: Int
    }

    private struct Store {
        var columns: [Key: [Double]] = [:]
        var rows: [Key: [Double]] = [:]
        var bytes = 0
    }

    /// Each task's modules, one list per task, all in the same order with the same shapes.
    let modules: [[LoRAModule]]
    let byteLimit: Int
    private let store = Mutex(Store())

    /// nil when the tasks' adapters do not list the same modules (names, shapes) in the same order, as
    /// tasks of one mergeable group (padded to their module union) do, or hold a split fused projection
    /// (merged by `AdapterMerger` as one unit, not module by module).
    public init?(adapters: [LoRAAdapter], byteLimit: Int = 512 << 20) {
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
        self.byteLimit = byteLimit
    }

    /// Bytes of blocks kept.
    public var keptBytes: Int { store.withLock { $0.bytes } }

    /// G_B = B̂ᵀB̂ and G_A = ÂÂᵀ of module `module` for `members` stacked in the order given (R×R each,
    /// R = Σ of their ranks).
    func grams(module: Int, members: [Int]) -> (columns: Matrix, rows: Matrix) {
        let ranks = members.map { modules[$0][module].rank }
        let total = ranks.reduce(0, +)
        var offsets: [Int] = []
        var offset = 0
        for r in ranks { offsets.append(offset); offset += r }
        // One pass under the lock: the kept blocks in place, or false at the first pair not kept.
        var gramB = Matrix(zeros: total, total)
        var gramA = Matrix(zeros: total, total)
        let complete = store.withLock { store -> Bool in
            for (i, first) in members.enumerated() {
                for (j, second) in members.enumerated() where j >= i {
                    let key = Self.key(module, first, second)
                    guard let columns = store.columns[key], let rows = store.rows[key] else { return false }
                    // The block is kept for the smaller task index first; transpose when reversed.
                    let reversed = first > second
                    Self.place(columns, into: &gramB, at: offsets[i], offsets[j], ranks[i], ranks[j], reversed)
                    Self.place(rows, into: &gramA, at: offsets[i], offsets[j], ranks[i], ranks[j], reversed)
                }
            }
            return true
        }
        if complete { return (gramB, gramA) }
        // One dsyrk of the whole stack (what a merge computed before), its blocks kept.
        let updates = members.map { LowRankUpdate(unchecked: modules[$0][module].b, modules[$0][module].a, 1) }
        gramB = LAPACK.gramOfColumns(LowRank.stackedColumns(updates))
        gramA = LAPACK.gramOfRows(LowRank.stackedRows(updates))
        keep(module: module, members: members, ranks: ranks, offsets: offsets, gramB: gramB, gramA: gramA)
        return (gramB, gramA)
    }

    /// Keeps the blocks of the tasks `first` ≤ `second` of module `module` computed elsewhere (by
    /// `TaskSimilarity`): `columns` = B_firstᵀB_second and `rows` = A_first A_secondᵀ, row-major
    /// r_first × r_second. Within `byteLimit`; a block already kept stays.
    func keep(module: Int, first: Int, second: Int, columns: [Double], rows: [Double]) {
        precondition(first <= second, "blocks are kept for the smaller task index first")
        store.withLock { store in
            let key = Self.key(module, first, second)
            let size = (columns.count + rows.count) * MemoryLayout<Double>.stride
            guard store.columns[key] == nil, store.bytes + size <= byteLimit else { return }
            store.columns[key] = columns
            store.rows[key] = rows
            store.bytes += size
        }
    }

    private func keep(module: Int, members: [Int], ranks: [Int], offsets: [Int], gramB: Matrix, gramA: Matrix) {
        store.withLock { store in
            for (i, first) in members.enumerated() {
                for (j, second) in members.enumerated() where j >= i {
                    let key = Self.key(module, first, second)
                    guard store.columns[key] == nil else { continue }
                    let size = ranks[i] * ranks[j] * 2 * MemoryLayout<Double>.stride
                    guard store.bytes + size <= byteLimit else { return }
                    let reversed = first > second
                    store.columns[key] = Self.block(of: gramB, at: offsets[i], offsets[j], ranks[i], ranks[j], reversed)
                    store.rows[key] = Self.block(of: gramA, at: offsets[i], offsets[j], ranks[i], ranks[j], reversed)
                    store.bytes += size
                }
            }
        }
    }

    private static func key(_ module: Int, _ a: Int, _ b: Int) -> Key { Key(module: module, first: min(a, b), second: max(a, b)) }

    /// The block of the task with the smaller index (rows) against the other (columns), row-major.
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
