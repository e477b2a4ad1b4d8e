@testable import AdapterDaemon
import Foundation
import NIOConcurrencyHelpers
import Testing

@Suite("worker thread and async mutex")
struct WorkerThreadTests {
    @Test func asyncWorkAndItsChildTasksRunOnTheWorkerThread() async throws {
        let worker = WorkerThread(name: "adapterd-test-worker")
        #expect(!worker.isCurrent)
        let names = try await worker.withPreference {
            var seen = [worker.isCurrent]
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<4 { group.addTask { worker.isCurrent } }
                for try await name in group { seen.append(name) }
            }
            return seen
        }
        #expect(names.count == 5)
        #expect(names.allSatisfy { $0 }, "\(names)")
        let synchronous = try await worker.run { worker.isCurrent }
        #expect(synchronous)
        await #expect(throws: CancellationError.self) { try await worker.run { throw CancellationError() } }
    }

    @Test func aNicedWorkerRunsAtLowerPriority() async throws {
        let worker = WorkerThread(name: "adapterd-test-nice", niceness: 10)
        let inside = try await worker.run { getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0) }
        #expect(inside == 10)   // an absolute nice value, for the worker thread only
        #expect(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0) != 10)
    }

    /// Many tasks waiting for the lock hold no threads: a task that needs none of it finishes while
    /// the lock is held, and the holders run one at a time in arrival order.
    @Test func waitersDoNotBlockThreadsAndRunOneAtATime() async throws {
        let mutex = AsyncMutex()
        let active = NIOLockedValueBox(0)
        let maximum = NIOLockedValueBox(0)
        let release = AsyncStream.makeStream(of: Void.self)
        let holder = Task {
            await mutex.withLock {
                for await _ in release.stream { break }
            }
        }
        while !mutex.isLocked { await Task.yield() }
        let waiters = (0..<32).map { _ in
            Task {
                await mutex.withLock {
                    let now = active.withLockedValue { $0 += 1; return $0 }
                    maximum.withLockedValue { $0 = max($0, now) }
                    try? await Task.sleep(for: .milliseconds(1))
                    active.withLockedValue { $0 -= 1 }
                }
            }
        }
        // 32 waiters on a pool of a few threads: an unrelated task still runs.
        let unrelated = await Task { 41 + 1 }.value
        #expect(unrelated == 42)
        release.continuation.yield()
        await holder.value
        for waiter in waiters { await waiter.value }
        #expect(maximum.withLockedValue { $0 } == 1)
        #expect(!mutex.isLocked)
    }
}

