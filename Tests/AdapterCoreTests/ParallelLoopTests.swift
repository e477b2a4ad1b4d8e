import Foundation
import Synchronization
import Testing
@testable import AdapterCore
#if canImport(Glibc)
import Glibc
#endif

/// Independent iterations on several threads (`ParallelLoop`), and the numerical paths that split their
/// modules over them (rank curves, merges, similarity): the same results, to the bit, on any number
/// of threads.
@Suite(.serialized) struct ParallelLoopTests {
    /// Runs `body` with `ComputeThreads` at `count`, restoring it after.
    static func withComputeThreads<T>(_ count: Int, _ body: () throws -> T) rethrows -> T {
        let before = ComputeThreads.count
        ComputeThreads.set(count)
        defer { ComputeThreads.set(before) }
        return try body()
    }

    /// `withComputeThreads` for async work.
    static func withComputeThreads<T>(_ count: Int, _ body: () async throws -> T) async rethrows -> T {
        let before = ComputeThreads.count
        ComputeThreads.set(count)
        defer { ComputeThreads.set(before) }
        return try await body()
    }

    @Test(arguments: [1, 2, 3, 8])
    func resultsComeInOrderOnSeveralThreads(threads: Int) throws {
        let seen = Mutex(Set<UInt64>())
        for count in [0, 1, 5, 64] {
            let squares = try ParallelLoop.map(count, threads: threads, minimumPerThread: 1) { i -> Int in
                seen.withLock { _ = $0.insert(UInt64(pthread_self())) }
                usleep(200)   // long enough that the other threads take iterations too
                return i * i
            }
            #expect(squares == (0..<count).map { $0 * $0 })
        }
        let threadsUsed = seen.withLock { $0.count }
        #expect(threads == 1 ? threadsUsed == 1 : threadsUsed > 1)
    }

    @Test func fewIterationsStayOnTheCallingThread() throws {
        let seen = Mutex(Set<UInt64>())
        _ = try ParallelLoop.map(7, threads: 4, minimumPerThread: 4) { _ in
            seen.withLock { _ = $0.insert(UInt64(pthread_self())) }
        }
        #expect(seen.withLock { $0 } == [UInt64(pthread_self())])
    }

    @Test func aLoopInsideALoopStaysOnItsIterationsThread() throws {
        let outerThreads = Mutex(Set<UInt64>())
        let inner = try ParallelLoop.map(6, threads: 2, minimumPerThread: 1) { _ -> Bool in
            let mine = UInt64(pthread_self())
            outerThreads.withLock { _ = $0.insert(mine) }
            let threads = try ParallelLoop.map(40, threads: 2, minimumPerThread: 1) { _ -> UInt64 in
                usleep(100)
                return UInt64(pthread_self())
            }
            return threads.allSatisfy { $0 == mine }
        }
        #expect(inner == [Bool](repeating: true, count: 6))
        #expect(outerThreads.withLock { $0.count } == 2)
        // And after the loop, this thread runs loops on several threads again.
        let after = Mutex(Set<UInt64>())
        _ = try ParallelLoop.map(20, threads: 2, minimumPerThread: 1) { _ in
            after.withLock { _ = $0.insert(UInt64(pthread_self())) }
            usleep(200)
        }
        #expect(after.withLock { $0.count } == 2)
    }

    /// As a plain loop would: the lowest failing iteration's error, though a later one failed first.
    @Test func theLowestFailingIterationsErrorIsRethrownAndTheRestSkipped() {
        struct Failure: Error, Equatable { let index: Int }
        let ran = Atomic<Int>(0)
        #expect(throws: Failure(index: 3)) {
            _ = try ParallelLoop.map(1000, threads: 2, minimumPerThread: 1) { i in
                ran.add(1, ordering: .relaxed)
                if i == 3 {
                    usleep(50_000)   // fails last, after 5 has failed
                    throw Failure(index: 3)
                }
                if i == 5 { throw Failure(index: 5) }
                return i
            }
        }
        #expect(ran.load(ordering: .relaxed) < 1000)
    }

    @Test func aCancelledTaskStops() async {
        let started = Atomic<Int>(0)
        // Long enough (50 s uncancelled) that the cancellation arrives while it runs however busy the
        // test process is.
        let task = Task {
            try ParallelLoop.map(200_000, threads: 2, minimumPerThread: 1) { i in
                started.add(1, ordering: .relaxed)
                usleep(500)
                return i
            }
        }
        try? await Task.sleep(for: .milliseconds(20))
        task.cancel()
        let outcome = await task.result
        #expect(throws: CancellationError.self) { try outcome.get() }
        #expect(started.load(ordering: .relaxed) < 200_000)
    }

    /// The daemon plans on a niced thread; the threads a loop starts must run at that priority too.
    @Test func helperThreadsRunAtTheCallersNiceValue() throws {
        let observed = Mutex<[Int32: Int]>([:])
        let seen = Mutex(Set<UInt64>())
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 7)   // this thread only (Linux)
            _ = try? ParallelLoop.map(40, threads: 3, minimumPerThread: 1) { _ in
                errno = 0
                let nice = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
                observed.withLock { $0[nice, default: 0] += 1 }
                seen.withLock { _ = $0.insert(UInt64(pthread_self())) }
                usleep(500)
            }
            done.signal()
        }
        thread.start()
        done.wait()
        #expect(observed.withLock { $0 } == [7: 40])
        #expect(seen.withLock { $0.count } > 1)
    }

    // MARK: The numerical paths

    /// Nine tasks of 16 modules (8 layers × q, v): enough modules for three threads.
    static func tasks(seed: UInt64) -> [TaskProfile] {
        SyntheticTasks.families(families: 3, perFamily: 3, rank: 4, layers: 8, width: 48, noise: 0.4, seed: seed,
                                scaleSpread: 0.5).tasks
    }

    @Test func rankCurvesAreTheSameOnAnyNumberOfThreads() throws {
        let tasks = Self.tasks(seed: 5)
        let members = Array(0..<tasks.count)
        let adapters = tasks.map(\.adapter)
        let weights = members.map { (0.3 + 0.1 * Double($0)) / Double(members.count) }
        func curve(_ threads: Int) throws -> RankQualityCurve {
            // Fresh blocks each time: the Grams are computed on the loop's threads too.
            let grams = try #require(FactorGrams(adapters: adapters))
            return try Self.withComputeThreads(threads) {
                try RankQualityCurve.compute(members: members, adapters: adapters, weights: weights, maximumRank: 10,
                                             grams: grams)
            }
        }
        let one = try curve(1)
        #expect(one.quality.last!.filter { $0 > 0.01 }.count >= 3)   // not a comparison of zeros
        for threads in [2, 3] { #expect(try curve(threads) == one) }
    }

    @Test func mergesAreTheSameOnAnyNumberOfThreads() throws {
        let adapters = Self.tasks(seed: 9).map(\.adapter)
        let weights = adapters.indices.map { 1 / Double($0 + 1) }
        for method in [MergeMethod.svd(rank: 6), .cat, .ties(density: 0.5, rank: 4, majoritySign: .total)] {
            let one = try Self.withComputeThreads(1) { try AdapterMerger.merge(adapters, weights: weights, method: method) }
            let three = try Self.withComputeThreads(3) { try AdapterMerger.merge(adapters, weights: weights, method: method) }
            #expect(one.modules.map(\.name) == three.modules.map(\.name))
            #expect(zip(one.modules, three.modules).allSatisfy { $0.a == $1.a && $0.b == $1.b && $0.scale == $1.scale })
            #expect(one.modules.count == 16)
        }
    }

    /// A computed evaluator's batch of scores shares the compute threads; whatever their number, a plan
    /// scored by it is the same plan with the same scores and the same count of evaluations.
    @Test func plansScoredByAComputedEvaluatorAreTheSameOnAnyNumberOfThreads() async throws {
        let tasks = Self.tasks(seed: 21)
        let planner = try BudgetPlanner(tasks: tasks, dtype: .f16)
        let budget = tasks.reduce(0) { $0 + $1.ownBytes } / 4
        let options = RankAllocatingPlanner.Options(evaluatedPlans: 2, refinementRounds: 2)
        func plan(_ threads: Int) async throws -> (plan: ClusterPlan, threads: Int, calls: Int) {
            let evaluator = ThreadRecordingEvaluator()
            let plan = try await Self.withComputeThreads(threads) {
                try await RankAllocatingPlanner(evaluator: evaluator).plan(tasks: tasks, budget: budget, planner: planner,
                                                                           options: options)
            }
            return (plan, evaluator.threads.withLock { $0.count }, evaluator.calls.withLock { $0 })
        }
        let one = try await plan(1)
        #expect(one.threads == 1)
        #expect(one.plan.evaluations == one.calls)
        #expect(one.plan.clusters.contains { $0.members.count > 1 })   // a plan that merges
        for threads in [2, 3] {
            let other = try await plan(threads)
            #expect(other.threads > 1)
            #expect(other.calls == one.calls)
            #expect(other.plan.evaluations == one.plan.evaluations)
            #expect(other.plan.clusters.map(\.members) == one.plan.clusters.map(\.members))
            #expect(other.plan.clusters.map(\.rank) == one.plan.clusters.map(\.rank))
            #expect(other.plan.tasks == one.plan.tasks)
        }
    }

    /// A batch shares the threads among its requests, unless each score splits its own work over them
    /// (weight space): then the requests go one at a time.
    @Test func anEvaluatorThatSplitsItsWorkIsAskedOneRequestAtATime() async throws {
        let tasks = Self.tasks(seed: 3)
        let requests = tasks.map { (task: $0, candidate: tasks[0].adapter) }
        try await Self.withComputeThreads(2) {
            // Scores long enough that a loaded machine starts the second thread before the first is done.
            let plain = ThreadRecordingEvaluator(delay: 20_000)
            let splitting = ThreadRecordingEvaluator(splitsItsWork: true, delay: 20_000)
            let scores = try await plain.checkedScores(requests, concurrency: 1)
            #expect(try await splitting.checkedScores(requests, concurrency: 1) == scores)
            #expect(plain.threads.withLock { $0.count } > 1)
            #expect(splitting.threads.withLock { $0.count } == 1)
        }
        #expect(WeightSpaceEvaluator().splitsItsWork)
    }

    @Test func similarityIsTheSameOnAnyNumberOfThreads() throws {
        let tasks = Self.tasks(seed: 13)
        let names = tasks.map(\.name), adapters = tasks.map(\.adapter)
        let one = try Self.withComputeThreads(1) { try TaskSimilarity.compute(names: names, adapters: adapters) }
        let three = try Self.withComputeThreads(3) { try TaskSimilarity.compute(names: names, adapters: adapters) }
        #expect(one == three)
        #expect(one.inner.contains { $0 != 0 })
    }
}
