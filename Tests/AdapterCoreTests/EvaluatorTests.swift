import Foundation
import Synchronization
import Testing
@testable import AdapterCore

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
        if failing { throw ExternalEvaluatorError(.failed, "scripted failure") }
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
            await #expect(throws: ExternalEvaluatorError.self) {
                try await cache.score(task: tasks[0], candidate: tasks[0].adapter)
            }
        }
        #expect(base.calls.withLock { $0 } == 2)
        #expect(await cache.cached.isEmpty)
    }

    @Test func fingerprintDependsOnContent() {
        let (tasks, _) = SyntheticTasks.families(families: 2, perFamily: 1)
        #expect(AdapterFingerprint.of(tasks[0].adapter) == AdapterFingerprint.of(tasks[0].adapter))
        #expect(AdapterFingerprint.of(tasks[0].adapter) != AdapterFingerprint.of(tasks[1].adapter))
        #expect(AdapterFingerprint.of(tasks[0].adapter) != AdapterFingerprint.of(Self.scaledCopy(tasks[0].adapter, by: 1.0000001)))
        #expect(AdapterFingerprint.of(tasks[0].adapter).count == 32)
    }
}

/// The external command evaluator against real processes (/bin/sh, sleep).
@Suite struct ExternalEvaluatorTests {
    /// A task whose examples file exists, in a fresh directory.
    static func task() throws -> (TaskProfile, String) {
        let (tasks, _) = SyntheticTasks.families(families: 1, perFamily: 1)
        let dir = FileManager.default.temporaryDirectory.path + "/adapterd-eval-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let examples = dir + "/examples.jsonl"
        try Data("{\"input\": \"hello\"}\n".utf8).write(to: URL(fileURLWithPath: examples))
        return (TaskProfile(name: "greet", version: 3, adapter: tasks[0].adapter, examplesFile: examples), dir)
    }

    /// Writes a marker instead of a real PEFT directory (the format is not the evaluator's business).
    static let writer: ExternalCommandEvaluator.DirectoryWriter = { adapter, directory in
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        try Data("\(adapter.modules.count)".utf8).write(to: URL(fileURLWithPath: directory + "/modules.txt"))
    }

    static func shell(_ script: String, timeout: Double = 10) throws -> ExternalCommandEvaluator {
        try ExternalCommandEvaluator(
            arguments: ["/bin/sh", "-c", script, "sh", "{adapter_dir}", "{examples}", "{task}", "{task_version}"],
            timeout: timeout, writeDirectory: writer)
    }

    @Test func readsTheScoreAndFillsPlaceholders() async throws {
        let (task, dir) = try Self.task()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The script checks that it got the adapter directory and the examples, then answers.
        let evaluator = try Self.shell("""
            test -f "$1/modules.txt" || exit 3
            grep -q hello "$2" || exit 4
            test "$3" = greet && test "$4" = 3 || exit 5
            echo "loading model..." ; echo '{"score": 0.625}'
            """)
        #expect(try await evaluator.score(task: task, candidate: task.adapter) == 0.625)
        #expect(evaluator.name == "external:sh")
    }

    @Test func timeoutKillsTheCommand() async throws {
        let (task, dir) = try Self.task()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let evaluator = try Self.shell("sleep 30; echo '{\"score\": 1}'", timeout: 0.5)
        let error = await #expect(throws: ExternalEvaluatorError.self) {
            try await evaluator.score(task: task, candidate: task.adapter)
        }
        #expect(error?.code == .timedOut)
        let message = error?.description ?? ""
        #expect(message.contains("greet") && message.contains("within 0.5 s"))
        // The supervising thread kills on time even when the test pool is busy: the message says when.
        let killedAfter = message.components(separatedBy: "killed after ").last?
            .split(separator: " ").first.flatMap { Double($0) }
        #expect(killedAfter != nil && killedAfter! >= 0.5 && killedAfter! < 5, "\(message)")
    }

    @Test func nonZeroExitIsAnErrorWithStderr() async throws {
        let (task, dir) = try Self.task()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let evaluator = try Self.shell("echo 'CUDA out of memory' >&2; exit 1")
        await #expect {
            try await evaluator.score(task: task, candidate: task.adapter)
        } throws: { error in
            (error as? ExternalEvaluatorError)?.code == .failed
                && "\(error)".contains("status 1") && "\(error)".contains("CUDA out of memory")
        }
    }

    @Test(arguments: ["echo hello", "echo '{\"score\": \"high\"}'", "echo '{\"value\": 1}'", "true", "echo '{\"score\": true}'"])
    func garbageOutputIsAnError(script: String) async throws {
        let (task, dir) = try Self.task()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let evaluator = try Self.shell(script)
        await #expect {
            try await evaluator.score(task: task, candidate: task.adapter)
        } throws: { error in
            (error as? ExternalEvaluatorError)?.code == .badOutput && "\(error)".contains("{\"score\": 0.82}")
        }
    }

    @Test func missingProgramAndBadConfigurationAreErrors() async throws {
        let (task, dir) = try Self.task()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let missing = try ExternalCommandEvaluator(arguments: ["/nonexistent/adapterd-eval"], writeDirectory: Self.writer)
        await #expect {
            try await missing.score(task: task, candidate: task.adapter)
        } throws: { error in
            (error as? ExternalEvaluatorError)?.code == .launchFailed && "\(error)".contains("/nonexistent/adapterd-eval")
        }
        #expect(throws: ExternalEvaluatorError.self) {
            try ExternalCommandEvaluator(arguments: [], writeDirectory: Self.writer)
        }
        #expect(throws: ExternalEvaluatorError.self) {
            try ExternalCommandEvaluator(arguments: ["true"], timeout: 0, writeDirectory: Self.writer)
        }
        let noExamples = TaskProfile(name: "bare", version: 1, adapter: task.adapter)
        await #expect(throws: ExternalEvaluatorError.self) {
            try await Self.shell("echo '{\"score\": 1}'").score(task: noExamples, candidate: task.adapter)
        }
    }

    @Test func temporaryAdapterDirectoryIsRemoved() async throws {
        let (task, dir) = try Self.task()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let evaluator = try ExternalCommandEvaluator(
            arguments: ["/bin/sh", "-c", "echo \"$1\" > \"$2\"; echo '{\"score\": 2}'", "sh", "{adapter_dir}", dir + "/seen"],
            temporaryRoot: dir, writeDirectory: Self.writer)
        #expect(try await evaluator.score(task: task, candidate: task.adapter) == 2)
        let seen = try String(contentsOfFile: dir + "/seen", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(seen.hasPrefix(dir + "/adapterd-eval-"))
        #expect(!FileManager.default.fileExists(atPath: seen))
    }
}

extension ExternalEvaluatorTests {
    @Test func defaultWriterHandsOverARealPEFTDirectory() async throws {
        let (task, dir) = try Self.task()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let evaluator = try ExternalCommandEvaluator(arguments: [
            "/bin/sh", "-c",
            "test -s \"$1/adapter_config.json\" && test -s \"$1/adapter_model.safetensors\" && echo '{\"score\": 0.5}'",
            "sh", "{adapter_dir}"])
        #expect(try await evaluator.score(task: task, candidate: task.adapter) == 0.5)
    }
}
