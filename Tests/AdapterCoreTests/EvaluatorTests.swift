import Foundation
import Synchronization
import Testing
@testable import AdapterCore
#if canImport(Glibc)
import Glibc
#endif

/// The failure `CountingEvaluator` is told to produce.
struct ScriptedFailure: Error, CustomStringConvertible {
    var description: String { "scripted failure" }
}

/// Counts calls and can be told to fail.
final class CountingEvaluator: Evaluator {
    let calls = Mutex(0)
    let failing: Bool
    let maximum: Double?
    var name: String { "counting" }
    var maximumScore: Double? { maximum }

    init(failing: Bool = false, maximum: Double? = nil) {
        self.failing = failing
        self.maximum = maximum
    }

    func score(task: TaskProfile, candidate: LoRAAdapter) async throws -> Double {
        calls.withLock { $0 += 1 }
        if failing { throw ScriptedFailure() }
        return WeightSpaceEvaluator.score(own: task.adapter, candidate: candidate)
    }
}

/// Weight-space scores computed on the calling thread (`ComputedEvaluator`), each slowed down so that
/// a batch's other threads take some; records the threads it ran on and can fail chosen tasks.
final class ThreadRecordingEvaluator: ComputedEvaluator {
    let threads = Mutex(Set<UInt64>())
    let calls = Mutex(0)
    /// Task names scored NaN, and task names that throw.
    let notANumber: Set<String>
    let throwing: Set<String>
    let splitsItsWork: Bool
    /// Microseconds each score takes.
    let delay: UInt32
    var name: String { "thread-recording" }

    init(notANumber: Set<String> = [], throwing: Set<String> = [], splitsItsWork: Bool = false, delay: UInt32 = 300) {
        self.notANumber = notANumber
        self.throwing = throwing
        self.splitsItsWork = splitsItsWork
        self.delay = delay
    }

    func scoreNow(task: TaskProfile, candidate: LoRAAdapter) throws -> Double {
        threads.withLock { _ = $0.insert(UInt64(pthread_self())) }
        calls.withLock { $0 += 1 }
        usleep(delay)
        if throwing.contains(task.name) { throw ScriptedFailure() }
        if notANumber.contains(task.name) { return .nan }
        return WeightSpaceEvaluator.score(own: task.adapter, candidate: candidate)
    }
}

/// Weight-space scores after a wait of 5 ms (an evaluator that waits, like an external command); the
/// tasks named fail after the milliseconds given.
struct WaitingEvaluator: Evaluator {
    let throwing: [String: Int]
    var name: String { "waiting" }

    func score(task: TaskProfile, candidate: LoRAAdapter) async throws -> Double {
        try await Task.sleep(for: .milliseconds(throwing[task.name] ?? 5))
        if throwing[task.name] != nil { throw ScriptedFailure() }
        return WeightSpaceEvaluator.score(own: task.adapter, candidate: candidate)
    }
}

@Suite struct EvaluatorTests {
    static func scaledCopy(_ adapter: LoRAAdapter, by factor: Double) -> LoRAAdapter {
        SyntheticTasks.adapter(adapter.modules.map {
            LoRAModule(name: $0.name, layer: $0.layer, projection: $0.projection, a: $0.a, b: $0.b,
                       scale: $0.scale * factor)
        }, rank: adapter.config.r)
    }

    @Test func weightSpaceScoreIsTheShareOfEnergyKept() async throws {
        let (tasks, _) = SyntheticTasks.families(families: 2, perFamily: 1)
        let evaluator = WeightSpaceEvaluator()
        let task = tasks[0]
        #expect(abs(try await evaluator.score(task: task, candidate: task.adapter) - 1) < 1e-12)
        // 0.8·ΔW misses 20 % of the update: 1 − 0.2² of its energy is kept.
        let shrunk = Self.scaledCopy(task.adapter, by: 0.8)
        #expect(abs(try await evaluator.score(task: task, candidate: shrunk) - 0.96) < 1e-12)
        // 1.3·ΔW overshoots by 30 %: 1 − 0.3².
        #expect(abs(try await evaluator.score(task: task, candidate: Self.scaledCopy(task.adapter, by: 1.3)) - 0.91) < 1e-12)
        // 2·ΔW is as far from the update as zero is.
        #expect(abs(try await evaluator.score(task: task, candidate: Self.scaledCopy(task.adapter, by: 2))) < 1e-12)
        // A zero update preserves nothing; an unrelated one of the same size is clamped at 0.
        #expect(abs(try await evaluator.score(task: task, candidate: Self.scaledCopy(task.adapter, by: 0))) < 1e-12)
        #expect(try await evaluator.score(task: task, candidate: tasks[1].adapter) == 0)
    }

    /// The own adapter (or a copy) is recognised without a pass over the factors, and gets what the
    /// computation gives an equal adapter made apart: exactly 1, zero updates included.
    @Test func ownAdapterScoresExactlyWhatTheComputationGives() {
        let (tasks, _) = SyntheticTasks.families(families: 1, perFamily: 1)
        let own = tasks[0].adapter
        let rebuilt = LoRAAdapter(config: own.config, modules: own.modules, architecture: own.architecture,
                                  storageDType: own.storageDType, tensorBytes: own.tensorBytes)
        let copy = own
        #expect(copy.isCopy(of: own) && !rebuilt.isCopy(of: own))
        #expect(WeightSpaceEvaluator.score(own: own, candidate: rebuilt) == 1)
        #expect(WeightSpaceEvaluator.score(own: own, candidate: copy) == 1)
        let zero = Self.scaledCopy(own, by: 0)
        let zeroRebuilt = LoRAAdapter(config: zero.config, modules: zero.modules, architecture: zero.architecture,
                                      storageDType: zero.storageDType, tensorBytes: zero.tensorBytes)
        #expect(WeightSpaceEvaluator.score(own: zero, candidate: zeroRebuilt) == WeightSpaceEvaluator.score(own: zero, candidate: zero))
    }

    @Test func weightSpaceScoreMatchesDenseEnergyKept() throws {
        let (tasks, _) = SyntheticTasks.families(families: 1, perFamily: 2, noise: 0.4)
        var diff = 0.0, own = 0.0
        for (m, c) in zip(tasks[0].adapter.modules, tasks[1].adapter.modules) {
            let d0 = SyntheticTasks.dense(m).elements, d1 = SyntheticTasks.dense(c).elements
            for k in d0.indices { diff += (d1[k] - d0[k]) * (d1[k] - d0[k]); own += d0[k] * d0[k] }
        }
        let expected = max(0, 1 - diff / own)   // the share of the update's energy kept
        let got = WeightSpaceEvaluator.score(own: tasks[0].adapter, candidate: tasks[1].adapter)
        #expect(expected > 0.1)
        #expect(abs(got - expected) < 1e-10)
    }

    @Test func cachingEvaluatorKeysByCandidateAndTaskVersion() async throws {
        let (tasks, _) = SyntheticTasks.families(families: 2, perFamily: 1)
        let base = CountingEvaluator()
        let cache = CachingEvaluator(base)
        let first = try await cache.score(task: tasks[0], candidate: tasks[1].adapter)
        let again = try await cache.score(task: tasks[0], candidate: tasks[1].adapter)
        #expect(first == again)
        #expect(base.calls.withLock { $0 } == 1)
        // An equal adapter built separately has the same content fingerprint.
        let rebuilt = SyntheticTasks.adapter(tasks[1].adapter.modules, rank: 4)
        _ = try await cache.score(task: tasks[0], candidate: rebuilt)
        #expect(base.calls.withLock { $0 } == 1)
        // Another candidate, or a new version of the task, is evaluated afresh.
        _ = try await cache.score(task: tasks[0], candidate: tasks[0].adapter)
        let reinstalled = TaskProfile(name: tasks[0].name, version: 2, adapter: tasks[0].adapter)
        _ = try await cache.score(task: reinstalled, candidate: tasks[1].adapter)
        #expect(base.calls.withLock { $0 } == 3)
        #expect(await cache.hits == 2)
        #expect(await cache.misses == 3)
        #expect(cache.name == "counting")
    }

    @Test func cachingEvaluatorDoesNotCacheFailures() async throws {
        let (tasks, _) = SyntheticTasks.families(families: 1, perFamily: 1)
        let base = CountingEvaluator(failing: true)
        let cache = CachingEvaluator(base, identify: { _ in "same" })
        for _ in 0..<2 {
            await #expect(throws: ScriptedFailure.self) {
                try await cache.score(task: tasks[0], candidate: tasks[0].adapter)
            }
        }
        #expect(base.calls.withLock { $0 } == 2)
        #expect(await cache.cached.isEmpty)
    }

    /// A batch gives each request the score a call alone gives it, in order, and reports the failure a
    /// loop over the requests would meet first, whichever evaluation ends first.
    @Test func aBatchOfScoresIsWhatOneAtATimeGives() async throws {
        let (tasks, _) = SyntheticTasks.families(families: 3, perFamily: 3, noise: 0.5, seed: 3)
        let requests = tasks.indices.map { (task: tasks[$0], candidate: tasks[($0 + 1) % tasks.count].adapter) }
            + tasks.map { (task: $0, candidate: $0.adapter) }
        var alone: [Double] = []
        for request in requests { alone.append(try await WeightSpaceEvaluator().score(task: request.task, candidate: request.candidate)) }
        #expect(alone.contains { $0 > 0 && $0 < 1 })   // not a comparison of ones and zeros
        #expect(try await ThreadRecordingEvaluator().checkedScores(requests, concurrency: 1) == alone)
        #expect(try await WaitingEvaluator(throwing: [:]).checkedScores(requests, concurrency: 3) == alone)
        // An evaluator that waits (an external command), one and two at a time, and behind the cache
        // actor as the daemon and the bench wrap it: every score lands at its own request.
        #expect(try await WaitingEvaluator(throwing: [:]).checkedScores(requests, concurrency: 1) == alone)
        #expect(try await CachingEvaluator(WaitingEvaluator(throwing: [:])).checkedScores(requests, concurrency: 1) == alone)
        #expect(try await CachingEvaluator(WaitingEvaluator(throwing: [:])).checkedScores(requests, concurrency: 2) == alone)
        #expect(try await ThreadRecordingEvaluator().checkedScores([], concurrency: 2).isEmpty)

        // Task 6 returns NaN and task 2 throws: task 2's failure is reported (as `evaluatorFailed`).
        let failing = ThreadRecordingEvaluator(notANumber: [tasks[1].name], throwing: [tasks[2].name])
        let late = Array(requests[2...])   // task 2 first, then task 1 (NaN) at its second request
        do {
            _ = try await failing.checkedScores(late, concurrency: 1)
            Issue.record("a failing batch returned")
        } catch let error as ClusteringError {
            #expect(error.code == .evaluatorFailed)
            #expect(error.message.contains("failed on task '\(tasks[2].name)': scripted failure"))
        }
        let nan = Array(requests[1...])   // task 1 (NaN) before task 2 (throws)
        do {
            _ = try await failing.checkedScores(nan, concurrency: 1)
            Issue.record("a failing batch returned")
        } catch let error as ClusteringError {
            #expect(error.message == "evaluator thread-recording returned nan for task '\(tasks[1].name)'")
        }
        // Waiting, all at once: the later request fails first (after 1 ms against 30 ms), the earlier
        // one is reported.
        let waiting = WaitingEvaluator(throwing: [tasks[4].name: 30, tasks[2].name: 1])
        do {
            _ = try await waiting.checkedScores([requests[5], requests[4], requests[2]], concurrency: 3)
            Issue.record("a failing batch returned")
        } catch let error as ClusteringError {
            #expect(error.message.contains("failed on task '\(tasks[4].name)'"))
        }
    }

    @Test func fingerprintDependsOnContent() {
        let (tasks, _) = SyntheticTasks.families(families: 2, perFamily: 1)
        #expect(AdapterFingerprint.of(tasks[0].adapter) == AdapterFingerprint.of(tasks[0].adapter))
        #expect(AdapterFingerprint.of(tasks[0].adapter) != AdapterFingerprint.of(tasks[1].adapter))
        #expect(AdapterFingerprint.of(tasks[0].adapter) != AdapterFingerprint.of(Self.scaledCopy(tasks[0].adapter, by: 1.0000001)))
        #expect(AdapterFingerprint.of(tasks[0].adapter).count == 32)
    }
}
