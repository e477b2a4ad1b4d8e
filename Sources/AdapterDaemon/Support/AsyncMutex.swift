import NIOConcurrencyHelpers

/// A first-come first-served lock for async code: a task that has to wait suspends (its thread goes
/// back to the pool) instead of blocking a thread, so waiting mutations never starve readers of the
/// cooperative pool. Not reentrant. Waiting cannot be cancelled (a mutation that was asked for runs).
final class AsyncMutex: Sendable {
    private struct State {
        var locked = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = NIOLockedValueBox(State())

    init() {}

    /// Runs `body` holding the lock.
    func withLock<T: Sendable>(_ body: () async throws -> T) async rethrows -> T {
        await lock()
        defer { unlock() }
        return try await body()
    }

    /// Whether some task holds the lock now.
    var isLocked: Bool { state.withLockedValue { $0.locked } }

    private func lock() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = state.withLockedValue { state -> Bool in
                if state.locked {
                    state.waiters.append(continuation)
                    return false
                }
                state.locked = true
                return true
            }
            if acquired { continuation.resume() }
        }
    }

    private func unlock() {
        let next = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.locked = false
                return nil
            }
            return state.waiters.removeFirst()   // ownership passes straight to the next waiter
        }
        next?.resume()
    }
}
