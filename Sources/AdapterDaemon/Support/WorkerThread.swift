import Foundation

/// A dedicated thread that runs the daemon's CPU-heavy work (loading adapters, similarity, merges,
/// SVDs, scoring, serialising and hashing merged files) outside Swift's cooperative thread pool, so
/// `route`, `status` and `list` keep answering while a re-cluster runs.
///
/// Two ways in: `run` executes a synchronous closure on the thread and resumes the caller with its
/// result; `withPreference` runs async code with this thread as its task executor, so the code and
/// the child tasks it starts (the refiner's evaluations) execute here, not on the pool.
///
/// The thread holds the worker strongly until `stop()`, so a job can never outlive it; the owner
/// calls `stop()` when it goes away, and the thread ends once the queued work has run.
final class WorkerThread: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var closures: [() -> Void] = []
    private var threadID: pthread_t?
    private var stopping = false
    let name: String

    /// Nice value of the thread (0: as the process; higher: yields the CPU to request handling).
    let niceness: Int32

    init(name: String, niceness: Int32 = 0) {
        self.name = name
        self.niceness = niceness
        let thread = Thread { self.loop() }
        thread.start()
    }

    /// True when called on the worker thread.
    var isCurrent: Bool {
        condition.lock()
        defer { condition.unlock() }
        guard let threadID else { return false }
        return pthread_equal(threadID, pthread_self()) != 0
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        condition.lock()
        jobs.append(unowned)
        condition.signal()
        condition.unlock()
    }

    /// Runs `body` on the worker thread and returns (or throws) its outcome.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            condition.lock()
            closures.append { continuation.resume(with: Result { try body() }) }
            condition.signal()
            condition.unlock()
        }
    }

    /// Runs async `body` with the worker thread as task executor.
    func withPreference<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try await withTaskExecutorPreference(self) { try await body() }
    }

    /// Lets the thread end once the work already queued has run. Call it only when nothing can
    /// submit more (the owner's deinit): work submitted after the thread ended would never run.
    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        condition.lock()
        threadID = pthread_self()
        condition.unlock()
        Thread.current.name = name   // shown by ps -L, top -H
        // Lower this thread's CPU priority (nice 10, Linux per-thread) so request handling on the
        // cooperative pool wins the cores while a long re-cluster runs.
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)   // 0: the calling thread on Linux
        while true {
            condition.lock()
            while jobs.isEmpty && closures.isEmpty && !stopping { condition.wait() }
            if jobs.isEmpty && closures.isEmpty {   // stopping, and nothing left to run
                condition.unlock()
                return
            }
            let job = jobs.isEmpty ? nil : jobs.removeFirst()
            let closure = job == nil ? closures.removeFirst() : nil
            condition.unlock()
            if let job {
                job.runSynchronously(on: asUnownedTaskExecutor())
            } else {
                closure?()
            }
        }
    }
}
