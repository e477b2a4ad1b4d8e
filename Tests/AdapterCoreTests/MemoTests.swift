import Synchronization
import Testing
@testable import AdapterCore

/// A derived figure kept once per immutable value and shared by its copies.
@Suite struct MemoTests {
    @Test func computesOnceAndSharesTheValueWithCopies() {
        let calls = Mutex(0)
        let memo = Memo<Double>()
        let copy = memo
        #expect(memo.value { calls.withLock { $0 += 1 }; return 2.5 } == 2.5)
        #expect(copy.value { calls.withLock { $0 += 1 }; return 9 } == 2.5)
        #expect(calls.withLock { $0 } == 1)
    }

    @Test func aFailedComputationKeepsNothing() throws {
        struct Failure: Error {}
        let memo = Memo<Int>()
        #expect(throws: Failure.self) { try memo.value { throw Failure() } }
        #expect(memo.value { 7 } == 7)
    }

    /// An adapter's ‖ΔW‖² is the sum over its modules, and a copy of the adapter answers the same.
    @Test func anAdaptersNormIsKeptForItsCopies() {
        let task = FactorGramsTests.tasks()[0]
        let expected = task.adapter.modules.reduce(0) { $0 + FactoredUpdates.inner($1, $1) }
        #expect(abs(FactoredUpdates.normSquared(task.adapter) - expected) <= 1e-12 * expected)
        let copy = task.adapter
        #expect(copy.normSquaredMemo.value { -1 } == FactoredUpdates.normSquared(task.adapter))
        #expect(expected > 0)
    }
}
