import AdapterCore
import AdapterCoreTestSupport
@testable import AdapterDaemon
import Foundation
import Testing

/// The external command evaluator against real processes (/bin/sh, sleep).
@Suite struct ExternalEvaluatorTests {
    /// A task whose examples file exists, in a fresh directory.
    static func task() throws -> (TaskProfile, String) {
        let adapter = SyntheticAdapters.adapter(seed: 1)
        let dir = FileManager.default.temporaryDirectory.path + "/adapterd-eval-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let examples = dir + "/examples.jsonl"
        try Data("{\"input\": \"hello\"}\n".utf8).write(to: URL(fileURLWithPath: examples))
        return (TaskProfile(name: "greet", version: 3, adapter: adapter, examplesFile: examples), dir)
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

    @Test func oneExampleIsOneLineOfTheExamplesFile() throws {
        let (task, dir) = try Self.task()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let evaluator = try Self.shell("echo '{\"score\": 1}'")
        #expect(evaluator.exampleWeight(for: task) == 1)
        let examples = try #require(task.examplesFile)
        try Data("{\"input\": \"a\"}\n\n{\"input\": \"b\"}\n  \n{\"input\": \"c\"}\n{\"input\": \"d\"}".utf8)
            .write(to: URL(fileURLWithPath: examples))
        #expect(evaluator.exampleWeight(for: task) == 0.25)
        // Without a readable file nothing is known: no margin.
        try FileManager.default.removeItem(atPath: examples)
        #expect(evaluator.exampleWeight(for: task) == 0)
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
