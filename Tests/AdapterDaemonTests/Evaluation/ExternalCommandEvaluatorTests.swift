import AdapterCore
import AdapterCoreTestSupport
@testable import AdapterDaemon
import Foundation
import Testing

/// Failure modes of the external evaluator beyond `ExternalEvaluatorTests`: signals, process groups,
/// cancellation, caching around a real command, and the refiner's handling of a failing command.
@Suite struct ExternalCommandEvaluatorTests {
    typealias Base = ExternalEvaluatorTests

    @Test func deathBySignalIsAFailureNamingTheSignal() async throws {
        let (task, dir) = try Base.task()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let evaluator = try Base.shell("echo 'segfault in kernel' >&2; kill -9 $$")
        let error = await #expect(throws: ExternalEvaluatorError.self) {
            try await evaluator.score(task: task, candidate: task.adapter)
        }
        #expect(error?.code == .failed)
        #expect(error?.message.contains("signal 9") == true && error?.message.contains("segfault in kernel") == true)
    }

    /// `evaluator-timeout` may be any finite positive number in the configuration file.
    @Test func anAbsurdlyLongTimeoutDoesNotTrap() async throws {
        let outcome = try await ExternalProcess.run(["/bin/sh", "-c", "echo 0.5"], timeout: 1e300)
        #expect(outcome.exitCode == 0)
        #expect(String(decoding: outcome.stdout, as: UTF8.self) == "0.5\n")
    }

    @Test func nonFiniteScoreIsBadOutput() async throws {
        let (task, dir) = try Base.task()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for answer in ["{\"score\": NaN}", "{\"score\": Infinity}", "{\"score\": 1e999}"] {
            let evaluator = try Base.shell("echo '\(answer)'")
            let error = await #expect(throws: ExternalEvaluatorError.self) {
                try await evaluator.score(task: task, candidate: task.adapter)
            }
            #expect(error?.code == .badOutput, "\(answer)")
        }
    }

    @Test func timeoutKillsTheWholeProcessGroup() async throws {
        let (task, dir) = try Base.task()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A background child would write the marker after 1.5 s if it outlived the timeout.
        let marker = dir + "/child-survived"
        let evaluator = try Base.shell("(sleep 1.5; touch '\(marker)') & sleep 30", timeout: 0.3)
        let error = await #expect(throws: ExternalEvaluatorError.self) {
            try await evaluator.score(task: task, candidate: task.adapter)
        }
        #expect(error?.code == .timedOut)
        try await Task.sleep(for: .seconds(2.5))
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test(.timeLimit(.minutes(2)))
    func cancellationKillsTheCommandsProcessGroup() async throws {
        let (task, dir) = try Base.task()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The command records its pid, then waits far longer than the test may take.
        let pidFile = dir + "/pid"
        let evaluator = try Base.shell("echo $$ > '\(pidFile)'; sleep 600; echo '{\"score\": 1}'", timeout: 900)
        let job = Task { try await evaluator.score(task: task, candidate: task.adapter) }
        var pid: pid_t?
        for _ in 0..<1200 where pid == nil {
            try await Task.sleep(for: .milliseconds(50))
            pid = (try? String(contentsOfFile: pidFile, encoding: .utf8))
                .flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        let started = try #require(pid)
        job.cancel()
        await #expect(throws: CancellationError.self) { try await job.value }
        // The evaluation returns only after the shell was killed and reaped; its `sleep` (same process
        // group) was killed too (it may linger as a zombie until its new parent reaps it).
        #expect(kill(started, 0) == -1 && errno == ESRCH)
        #expect(Self.liveMembers(ofProcessGroup: started).isEmpty)
    }

    /// Processes of a group that are not zombies, from /proc/<pid>/stat ("pid (comm) state ppid pgrp …").
    static func liveMembers(ofProcessGroup group: pid_t) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> pid_t? in
            guard let pid = pid_t(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 3, let pgrp = pid_t(fields[3]) else { return nil }
            return pgrp == group && fields[0] != "Z" ? pid : nil
        }
    }

    @Test func cachingAroundACommandRunsItOncePerCandidateAndRetriesFailures() async throws {
        let (task, dir) = try Base.task()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Fails on its first run (no marker yet), then answers; every run appends a line to a log.
        let log = dir + "/runs"
        let marker = dir + "/warm"
        let evaluator = try Base.shell("""
            echo run >> '\(log)'
            if [ ! -f '\(marker)' ]; then touch '\(marker)'; echo 'model not loaded' >&2; exit 7; fi
            echo '{"score": 0.75}'
            """)
        let caching = CachingEvaluator(evaluator)
        let error = await #expect(throws: ExternalEvaluatorError.self) {
            try await caching.score(task: task, candidate: task.adapter)
        }
        #expect(error?.code == .failed && error?.message.contains("model not loaded") == true)
        #expect(try await caching.score(task: task, candidate: task.adapter) == 0.75)
        #expect(try await caching.score(task: task, candidate: task.adapter) == 0.75)
        let runs = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").count
        #expect(runs == 2)   // the failure, then one successful run; the third answer came from the cache
        let (hits, misses) = (await caching.hits, await caching.misses)
        #expect(hits == 1 && misses == 2)
        // A new version of the task is scored again.
        let reinstalled = TaskProfile(name: task.name, version: task.version + 1, adapter: task.adapter,
                                      examplesFile: task.examplesFile)
        #expect(try await caching.score(task: reinstalled, candidate: task.adapter) == 0.75)
        #expect(try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").count == 3)
    }

    @Test func aFailingCommandFailsThePlanWithAClearErrorAndNothingElse() async throws {
        let tasks = (0..<4).map {
            TaskProfile(name: "t\($0)", version: 1, adapter: SyntheticAdapters.adapter(seed: UInt64($0), d: 6, layers: 1, r: 2))
        }
        let dir = FileManager.default.temporaryDirectory.path + "/adapterd-plan-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let examples = dir + "/examples.jsonl"
        try Data("{\"text\": \"hi\"}\n".utf8).write(to: URL(fileURLWithPath: examples))
        let merged = try BudgetPlanner(tasks: tasks).mergedBytes(rank: 2)
        // Own files as large as a merged adapter: 4 of them do not fit a budget of 2 merged ones.
        let withFiles = tasks.map {
            TaskProfile(name: $0.name, version: 1, adapter: $0.adapter, examplesFile: examples, ownBytes: merged)
        }
        let planner = try BudgetPlanner(tasks: withFiles)
        let budget = merged * 2
        for script in ["echo 'no GPU' >&2; exit 3", "echo '{\"score\": 0}'", "echo oops"] {
            let refiner = ClusterRefiner(evaluator: CachingEvaluator(try Base.shell(script)))
            let error = await #expect(throws: ClusteringError.self) {
                try await refiner.plan(tasks: withFiles, budget: budget, planner: planner)
            }
            #expect(error?.code == .evaluatorFailed, "\(script)")
            #expect(error?.message.contains("external:sh") == true, "\(error?.message ?? "")")
        }
        // The weight-space evaluator, the fallback when nothing is configured, plans the same tasks.
        let plan = try await ClusterRefiner().plan(tasks: withFiles, budget: budget, planner: planner)
        #expect(plan.clusters.count == 2 && plan.totalBytes <= budget)
    }
}
