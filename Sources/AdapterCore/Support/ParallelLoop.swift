import Foundation
import Synchronization

/// How many threads the numerical core may use for work that splits into independent pieces (the
/// modules of a merge, a rank curve or a similarity), process-wide like OpenBLAS's own thread count.
/// 1 until set; the daemon sets its `planning-threads` setting (default: every core).
public enum ComputeThreads {
    private static let configured = Atomic<Int>(1)

    public static var count: Int { configured.load(ordering: .relaxed) }

    /// Sets the thread count (values below 1 are treated as 1).
    public static func set(_ count: Int) { configured.store(max(1, count), ordering: .relaxed) }
}

/// Runs independent iterations on several threads and returns their results in order, so that what
/// a caller sums from them does not depend on how many threads ran.
///
/// The calling thread works too; the others are started for the call and joined before it returns,
/// so they inherit the caller's scheduling priority (the daemon plans on a niced thread, and its
/// helpers must yield to request handling as it does). Each thread takes the next undone iteration,
/// so uneven iterations balance. A cancelled calling task stops the loop at the next iteration and
/// throws `CancellationError`. An iteration that throws stops the iterations after it; those before it
/// finish, and the error of the lowest failing iteration is rethrown: the one a plain loop would throw.
public enum ParallelLoop {
    /// `body(i)` for i in 0..<count on up to `threads` threads (at most one per `minimumPerThread`
    /// iterations: starting a thread costs tens of microseconds); `cancellable: false` runs to the end
    /// in a cancelled task.
    public static func map<T: Sendable>(_ count: Int, threads: Int = ComputeThreads.count, minimumPerThread: Int = 4,
                                 cancellable: Bool = true, _ body: (Int) throws -> T) throws -> [T] {
        var workers = min(max(1, threads), max(1, count / max(1, minimumPerThread)))
        // A loop inside another loop's iteration runs on its thread alone: the outer loop has the
        // threads. (Asked only when threads are due: the per-thread flag costs a dictionary lookup.)
        if workers > 1 && isInsideLoop { workers = 1 }
        guard workers > 1 else {
            return try (0..<count).map { i in
                if cancellable { try Task.checkCancellation() }
                return try body(i)
            }
        }
        let shared = Shared<T>(count: count)
        withoutActuallyEscaping(body) { body in
            // The threads reach `body` only through `shared`, which lets go of it once they are done:
            // nothing holds it when this block ends (a thread object may outlive its signal).
            shared.body = body
            let finished = DispatchSemaphore(value: 0)
            for _ in 1..<workers {
                let thread = Thread {
                    Thread.current.threadDictionary[insideKey] = true
                    shared.work(cancelled: { false })
                    finished.signal()
                }
                thread.start()
            }
            Thread.current.threadDictionary[insideKey] = true
            shared.work(cancelled: { cancellable && Task.isCancelled })
            Thread.current.threadDictionary.removeObject(forKey: insideKey)
            for _ in 1..<workers { finished.wait() }
            shared.body = nil
        }
        return try shared.results()
    }

    /// `map` for iterations that cannot fail: every one runs, in a cancelled task too.
    public static func mapAll<T: Sendable>(_ count: Int, threads: Int = ComputeThreads.count, minimumPerThread: Int = 4,
                                           _ body: (Int) -> T) -> [T] {
        do {
            return try map(count, threads: threads, minimumPerThread: minimumPerThread, cancellable: false, body)
        } catch {
            // Not cancellable and no iteration throws: `map` has nothing to report.
            preconditionFailure("a loop of iterations that cannot fail reported \(error)")
        }
    }

    /// Marks a thread while it runs a loop's iterations.
    private static let insideKey = "adapterd.ParallelLoop.inside"

    private static var isInsideLoop: Bool { Thread.current.threadDictionary[insideKey] != nil }

    /// Results, the next iteration to take, and the first failure, shared by the loop's threads.
    private final class Shared<T: Sendable>: @unchecked Sendable {
        private let next = Atomic<Int>(0)
        private let cancelled = Atomic<Bool>(false)
        /// The lowest iteration that failed (Int.max: none), and its error.
        private let lowestFailed = Atomic<Int>(Int.max)
        private let failure = Mutex<(index: Int, error: any Error)?>(nil)
        private let slots: UnsafeMutableBufferPointer<T?>
        /// The iteration; set before the threads start and cleared after they finish.
        var body: ((Int) throws -> T)?

        init(count: Int) {
            slots = .allocate(capacity: count)
            slots.initialize(repeating: nil)
        }

        deinit {
            slots.deinitialize()
            slots.deallocate()
        }

        /// Takes iterations until none is left, the loop is cancelled, or one before the next has
        /// failed. Each slot is written by exactly one thread, and read only after every thread has
        /// finished.
        func work(cancelled isCancelled: () -> Bool) {
            guard let body else { return }
            while !cancelled.load(ordering: .relaxed) {
                if isCancelled() {
                    cancelled.store(true, ordering: .relaxed)
                    return
                }
                let i = next.add(1, ordering: .relaxed).oldValue
                // Iterations are taken in increasing order: every later one is past the failure too.
                guard i < slots.count, i < lowestFailed.load(ordering: .relaxed) else { return }
                do {
                    slots[i] = try body(i)
                } catch {
                    failed(i, error)
                    return
                }
            }
        }

        private func failed(_ index: Int, _ error: any Error) {
            failure.withLock { lowest in
                if lowest == nil || index < lowest!.index { lowest = (index, error) }
                lowestFailed.store(lowest!.index, ordering: .relaxed)
            }
        }

        func results() throws -> [T] {
            if cancelled.load(ordering: .relaxed) { throw CancellationError() }
            if let failure = failure.withLock({ $0 }) { throw failure.error }
            return slots.map { $0! }
        }
    }
}
