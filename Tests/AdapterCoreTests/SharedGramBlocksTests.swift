import Testing
@testable import AdapterCore

/// Gram blocks shared across groups that stack the same adapters in other lists (the placements of a
/// burst of installs): read back in any order, only a new task's blocks computed, dropped with their
/// adapters.
@Suite struct SharedGramBlocksTests {
    static let tasks = FactorGramsTests.tasks(seed: 23)
    /// Bytes of one pair's two blocks for one module (the synthetic tasks have rank 4).
    static let pairBytes = 4 * 4 * 2 * MemoryLayout<Double>.stride

    /// The largest difference between the Grams of `members` of `grams` and of a group computing its own.
    static func difference(_ grams: FactorGrams, adapters: [LoRAAdapter], members: [Int]) throws -> Double {
        let computed = try #require(FactorGrams(adapters: adapters))
        var worst = 0.0
        for module in adapters[0].modules.indices {
            let (x, y) = (grams.grams(module: module, members: members), computed.grams(module: module, members: members))
            let scale = y.columns.elements.map(abs).max()! + y.rows.elements.map(abs).max()!
            #expect(scale > 0)
            worst = max(worst, LowRankTesting.maxAbsDifference(x.columns, y.columns) / scale,
                        LowRankTesting.maxAbsDifference(x.rows, y.rows) / scale)
        }
        return worst
    }

    @Test func aNewTasksBlocksAreTheOnlyOnesComputedAndTheGramsAreTheSame() throws {
        let adapters = Self.tasks.map(\.adapter)
        let modules = adapters[0].modules.count
        let shared = SharedGramBlocks()
        // A served cluster's members, as one placement stacks them with a task.
        let first = try #require(FactorGrams(adapters: [adapters[0], adapters[1], adapters[2], adapters[3]], shared: shared))
        #expect(try Self.difference(first, adapters: [adapters[0], adapters[1], adapters[2], adapters[3]], members: [0, 1, 2, 3])
                <= 1e-13)
        #expect(shared.keptBytes == modules * 10 * Self.pairBytes)
        // The next placement: the same adapters in another order, with a new one.
        let list = [adapters[4], adapters[2], adapters[0], adapters[3], adapters[1]]
        let second = try #require(FactorGrams(adapters: list, shared: shared))
        #expect(try Self.difference(second, adapters: list, members: [0, 1, 2, 3, 4]) <= 1e-13)
        #expect(try Self.difference(second, adapters: list, members: [3, 0, 4]) <= 1e-13)
        // Only the new task's five blocks (with each member and itself) were added.
        #expect(shared.keptBytes == modules * 15 * Self.pairBytes)
        // Curves and merges read from shared blocks are those of the merge.
        let weights = [0.2, 0.2, 0.2, 0.2, 0.2]
        let merged = try RankQualityCurve.compute(members: Array(0..<5), adapters: list, weights: weights, maximumRank: 8)
        let fromShared = try RankQualityCurve.compute(members: Array(0..<5), adapters: list, weights: weights, maximumRank: 8,
                                                      grams: second)
        #expect(FactorGramsTests.difference(merged, fromShared) < 1e-10)
    }

    /// A copy of an adapter is the same adapter; a second decode of the same file (here: the same
    /// modules in a new adapter) is another, with blocks of its own.
    @Test func adaptersAreToldApartByIdentity() throws {
        let shared = SharedGramBlocks()
        let original = Self.tasks[0].adapter
        let copy = original
        let rebuilt = SyntheticTasks.adapter(original.modules, rank: 4)
        #expect(shared.key(of: original) == shared.key(of: copy))
        #expect(shared.key(of: original) != shared.key(of: rebuilt))
    }

    @Test func blocksOfAdaptersNoLongerInUseAreDropped() throws {
        let adapters = Self.tasks.map(\.adapter)
        let modules = adapters[0].modules.count
        let shared = SharedGramBlocks()
        let group = try #require(FactorGrams(adapters: Array(adapters[0..<4]), shared: shared))
        _ = try Self.difference(group, adapters: Array(adapters[0..<4]), members: [0, 1, 2, 3])
        #expect(shared.keptBytes == modules * 10 * Self.pairBytes)
        shared.keep(only: [adapters[0], adapters[2], adapters[5]])
        #expect(shared.keptBytes == modules * 3 * Self.pairBytes)   // (0, 0), (0, 2), (2, 2)
        // A dropped adapter seen again has a new key: its blocks are computed again, correctly.
        let again = try #require(FactorGrams(adapters: [adapters[1], adapters[0]], shared: shared))
        #expect(try Self.difference(again, adapters: [adapters[1], adapters[0]], members: [0, 1]) <= 1e-13)
        shared.removeAll()
        #expect(shared.keptBytes == 0)
        // A group made before still computes (and keeps) its blocks under keys never given out again.
        #expect(try Self.difference(group, adapters: Array(adapters[0..<4]), members: [3, 1]) <= 1e-13)
        let later = try #require(FactorGrams(adapters: [adapters[6], adapters[7]], shared: shared))
        #expect(try Self.difference(later, adapters: [adapters[6], adapters[7]], members: [0, 1]) <= 1e-13)
    }

    @Test func nothingIsKeptPastTheByteLimit() throws {
        let adapters = Array(Self.tasks.map(\.adapter)[0..<3])
        let shared = SharedGramBlocks(byteLimit: 0)
        let group = try #require(FactorGrams(adapters: adapters, shared: shared))
        #expect(try Self.difference(group, adapters: adapters, members: [0, 1, 2]) <= 1e-13)
        #expect(shared.keptBytes == 0)
    }
}
