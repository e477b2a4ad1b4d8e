import AdapterCore
import Foundation

/// An evaluator that runs a configured command, the way a device plugs in its real runtime.
///
/// For each evaluation the candidate adapter is written as a PEFT directory into a fresh temporary
/// directory, the argv template is filled in and run (no shell) with a timeout, and stdout must hold
/// a JSON object `{"score": x}` with a finite number x (higher is better); when stdout has several
/// lines, the last non-empty line is tried as well, so a script may log before it answers.
///
/// Placeholders, replaced anywhere inside an argument: `{adapter_dir}` (the candidate's PEFT
/// directory), `{examples}` (the task's examples file), `{task}`, `{task_version}`.
/// Timeouts, non-zero exits, deaths by signal and unreadable output are thrown as
/// `ExternalEvaluatorError` with the command's stderr tail; nothing is retried or cached here
/// (wrap in `CachingEvaluator`).
public struct ExternalCommandEvaluator: Evaluator {
    /// Writes an adapter as a new PEFT directory (adapter_config.json + adapter_model.safetensors) at a
    /// path that does not exist yet (its parent does).
    public typealias DirectoryWriter = @Sendable (_ adapter: LoRAAdapter, _ directory: String) throws -> Void

    public let name: String
    public let arguments: [String]
    /// Seconds before the command (and its process group) is killed.
    public let timeout: Double
    private let writeDirectory: DirectoryWriter
    private let temporaryRoot: String

    /// Writes the candidate with `PEFTAdapterWriter` in F16.
    public static let peftWriter: DirectoryWriter = { adapter, directory in
        try PEFTAdapterWriter.write(adapter, to: URL(fileURLWithPath: directory), dtype: .f16)
    }

    public init(arguments: [String], timeout: Double = 300, name: String? = nil,
                temporaryRoot: String? = nil,
                writeDirectory: @escaping DirectoryWriter = ExternalCommandEvaluator.peftWriter) throws {
        guard let program = arguments.first, !program.isEmpty else {
            throw ExternalEvaluatorError(.misconfigured, "the evaluator command is empty")
        }
        guard timeout > 0, timeout.isFinite else {
            throw ExternalEvaluatorError(.misconfigured, "the evaluator timeout must be a positive number of seconds")
        }
        self.arguments = arguments
        self.timeout = timeout
        self.name = name ?? "external:" + (program.split(separator: "/").last.map(String.init) ?? program)
        self.temporaryRoot = temporaryRoot ?? FileManager.default.temporaryDirectory.path
        self.writeDirectory = writeDirectory
    }

    public func score(task: TaskProfile, candidate: LoRAAdapter) async throws -> Double {
        guard let examples = task.examplesFile else {
            throw ExternalEvaluatorError(.misconfigured,
                "task '\(task.name)' has no examples file for the external evaluator \(name)")
        }
        let work = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let adapterDirectory = work + "/adapter"
        do {
            try writeDirectory(candidate, adapterDirectory)
        } catch {
            throw ExternalEvaluatorError(.misconfigured,
                "could not write the candidate adapter for \(name) to \(adapterDirectory): \(error)")
        }
        let argv = arguments.map {
            $0.replacingOccurrences(of: "{adapter_dir}", with: adapterDirectory)
                .replacingOccurrences(of: "{examples}", with: examples)
                .replacingOccurrences(of: "{task}", with: task.name)
                .replacingOccurrences(of: "{task_version}", with: String(task.version))
        }
        let outcome: ExternalProcess.Outcome
        do {
            outcome = try await ExternalProcess.run(argv, timeout: timeout)
        } catch let failure as ExternalProcess.Failure {
            switch failure {
            case .launch(let code):
                throw ExternalEvaluatorError(.launchFailed,
                    "evaluator \(name) could not start '\(argv[0])': \(Self.errorText(code))")
            case .timedOut(_, let stderr, let killedAfter):
                throw ExternalEvaluatorError(.timedOut,
                    "evaluator \(name) did not answer within \(Self.seconds(timeout)) for task '\(task.name)' "
                    + "and was killed after \(Self.seconds((killedAfter * 10).rounded() / 10))" + Self.tail(stderr))
            case .cancelled:
                throw CancellationError()
            }
        }
        if let signal = outcome.signal {
            throw ExternalEvaluatorError(.failed,
                "evaluator \(name) was killed by signal \(signal) while scoring task '\(task.name)'"
                + Self.tail(outcome.stderr))
        }
        if let code = outcome.exitCode, code != 0 {
            throw ExternalEvaluatorError(.failed,
                "evaluator \(name) exited with status \(code) while scoring task '\(task.name)'"
                + Self.tail(outcome.stderr))
        }
        return try Self.parseScore(outcome.stdout, evaluator: name, task: task.name)
    }

    /// One line of the task's examples file (the command is to print a mean over them, docs/CLUSTERING.md);
    /// 0 when the file cannot be read.
    public func exampleWeight(for task: TaskProfile) -> Double {
        guard let path = task.examplesFile, let data = FileManager.default.contents(atPath: path) else { return 0 }
        let lines = ExamplesFile.normalisedCount(data)
        return lines > 0 ? 1 / Double(lines) : 0
    }

    /// Reads `{"score": x}` from the whole output or, failing that, from its last non-empty line.
    static func parseScore(_ stdout: [UInt8], evaluator: String, task: String) throws -> Double {
        struct Answer: Decodable { let score: Double }
        let text = String(decoding: stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        var attempts = [text]
        if let last = text.split(whereSeparator: \.isNewline).last.map(String.init), last != text {
            attempts.append(last)
        }
        for attempt in attempts {
            if let answer = try? JSONDecoder().decode(Answer.self, from: Data(attempt.utf8)) {
                guard answer.score.isFinite else { break }
                return answer.score
            }
        }
        let shown = text.isEmpty ? "nothing" : "'" + String(text.prefix(200)) + (text.count > 200 ? "…'" : "'")
        throw ExternalEvaluatorError(.badOutput,
            "evaluator \(evaluator) printed \(shown) for task '\(task)'; expected a JSON object like {\"score\": 0.82}")
    }

    private func makeTemporaryDirectory() throws -> String {
        var template = Array((temporaryRoot + "/adapterd-eval-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer -> Bool in
            guard let base = buffer.baseAddress else { return false }
            return mkdtemp(base) != nil
        }
        guard made else {
            throw ExternalEvaluatorError(.misconfigured,
                "could not create a temporary directory under \(temporaryRoot): \(Self.errorText(errno))")
        }
        return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func errorText(_ code: Int32) -> String {
        strerror(code).map { String(cString: $0) } ?? "error \(code)"
    }

    private static func tail(_ stderr: [UInt8]) -> String {
        let text = String(decoding: stderr.suffix(400), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "" : "; its stderr ends with: " + text
    }

    private static func seconds(_ t: Double) -> String {
        t == t.rounded() && abs(t) < 1e15 ? "\(Int(t)) s" : "\(t) s"
    }
}

/// Why the external evaluator could not produce a score.
public typealias ExternalEvaluatorError = CodedError<ExternalEvaluatorErrorCode>

/// The kinds of `ExternalEvaluatorError`.
public enum ExternalEvaluatorErrorCode: String, ErrorCode {
    /// Empty command, bad timeout, missing examples file, unwritable temporary directory.
    case misconfigured
    /// The program could not be started (not found, not executable).
    case launchFailed
    /// The command ran past its timeout and was killed.
    case timedOut
    /// The command exited with a non-zero status or died by a signal.
    case failed
    /// The command's stdout held no `{"score": number}`.
    case badOutput
}
