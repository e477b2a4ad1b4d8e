import Dispatch
import Foundation

/// Runs independent jobs on a fixed number of threads and collects their results in input order.
/// Used to screen or featurise many adapters at once; `progress` is called (serialised) after each
/// job with the number done and the total.
public enum ConcurrentWork {
    public static func map<T: Sendable, R: Sendable>(
        _ items: [T], jobs: Int, progress: (@Sendable (Int, Int) -> Void)? = nil,
        _ body: @escaping @Sendable (T) -> R
    ) -> [R] {
        let state = State<R>(count: items.count)
        let workers = max(1, min(jobs, items.count))
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while let i = state.claim() {
                let r = body(items[i])
                let done = state.store(r, at: i)
                progress?(done, items.count)
            }
        }
        return state.results()
    }

    private final class State<R: Sendable>: @unchecked Sendable {
        private let lock = NSLock()
        private var next = 0
        private var done = 0
        private var slots: [R?]

        init(count: Int) { slots = [R?](repeating: nil, count: count) }

        func claim() -> Int? {
            lock.lock()
            defer { lock.unlock() }
            guard next < slots.count else { return nil }
            next += 1
            return next - 1
        }

        func store(_ r: R, at i: Int) -> Int {
            lock.lock()
            defer { lock.unlock() }
            slots[i] = r
            done += 1
            return done
        }

        func results() -> [R] {
            lock.lock()
            defer { lock.unlock() }
            return slots.compactMap { $0 }
        }
    }
}
