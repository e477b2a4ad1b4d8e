import AdapterCore
import AdapterProtocol
import ArgumentParser
import Foundation

/// `adapterctl install DIR --task NAME --examples FILE`: sends a PEFT LoRA directory and its examples
/// to the daemon, which screens it and, if accepted, serves it for the task.
struct InstallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Screen and install a PEFT LoRA adapter for a task.",
        discussion: """
            DIR must hold adapter_config.json and adapter_model.safetensors. The files' bytes are sent \
            over the socket; the daemon never reads your paths. Exit status 1 when screening refuses the \
            adapter (the reason is printed) or it does not fit the budget.
            """)

    @Argument(help: ArgumentHelp("PEFT adapter directory.", valueName: "dir"), completion: .directory)
    var directory: String

    @Option(name: .long, help: "Task name (letters, digits, '.', '_', '-'; up to 64).")
    var task: String

    @Option(name: .long, help: ArgumentHelp(
        "JSON Lines file with the task's few examples.",
        discussion: #"Each line one of {"text","label"} (string or integer label), {"input","output"}, "#
            + #"{"instruction","input","output"}, {"prompt","completion"}, {"messages":[{"role","content"}]}."#),
            completion: .file(extensions: ["jsonl"]))
    var examples: String

    @Option(name: .long, help: ArgumentHelp(
        "Names of integer labels in the examples, by index (label 0 is the first name).", valueName: "a,b,c"))
    var labels: String?

    @OptionGroup var client: ClientOptions

    static let maximumAdapterBytes = 512 * 1024 * 1024

    func run() async throws {
        var params = try Self.readParams(directory: directory, task: task, examples: examples)
        params.labels = labels.map(Self.labelNames)
        let bar = ProgressBar(enabled: !client.json && isatty(2) == 1)
        let result: InstallResult
        do {
            result = try await client.withClient { connection in
                try await connection.call(Methods.Install.self, params) { bar.update($0) }
            }
            bar.finish()
        } catch {
            bar.finish()
            throw error
        }
        if client.json { return Output.printJSON(result) }
        var lines = [
            "installed \(result.task) version \(result.version)" + (result.replacedVersion.map { " (replaces version \($0))" } ?? ""),
            "  sha256     \(result.sha256)",
            "  size       \(Output.size(result.bytes)), \(result.examples) examples",
            "  verdict    \(result.verdict.decision), score \(Output.format(result.verdict.score)) < threshold \(Output.format(result.verdict.threshold))",
            "  generation \(result.generation)",
            "  budget     \(Output.budgetLine(result.budget))",
        ]
        if let quality = result.retainedQuality {
            lines.append("  quality    \(Output.format(quality)) retained by \((result.evaluator ?? "-").terminalSafe)")
        }
        if let placement = result.placement {
            lines.append("  placed     \(placement.terminalSafe); every task is planned again in the background")
        }
        lines += (result.verdict.reasons ?? []).map { "  \($0.terminalSafe)" }
        Output.printText(lines.joined(separator: "\n"))
    }

    /// Reads the directory and examples file into install params. Each must be a regular file: a FIFO,
    /// device or directory in its place is refused, naming it (`RegularFile`).
    static func readParams(directory: String, task: String, examples: String) throws -> InstallParams {
        let config = try read(directory + "/adapter_config.json", limit: PEFTAdapterLoader.maximumConfigBytes)
        let weightsPath = directory + "/adapter_model.safetensors"
        let weights: Data
        do {
            weights = try RegularFile.read(URL(fileURLWithPath: weightsPath), maximumBytes: maximumAdapterBytes)
        } catch where error.code == .missing {
            if FileManager.default.fileExists(atPath: directory + "/adapter_model.bin") {
                throw CLIError(.usage, "\(directory) has only adapter_model.bin (a pickle); adapterd accepts safetensors only")
            }
            throw CLIError(.usage, error.message)
        } catch {
            throw CLIError(.usage, error.message)
        }
        let examplesData = try read(examples, limit: ExamplesFile.maximumFileBytes)
        guard let configText = String(data: config, encoding: .utf8) else {
            throw CLIError(.usage, "\(directory)/adapter_config.json is not UTF-8 text")
        }
        guard let examplesText = String(data: examplesData, encoding: .utf8) else {
            throw CLIError(.usage, "\(examples) is not UTF-8 text")
        }
        return InstallParams(task: task, config: configText, safetensors: weights.base64EncodedString(), examples: examplesText)
    }

    /// `--labels a,b,c` as names, each trimmed of surrounding spaces (the daemon validates them).
    static func labelNames(_ list: String) -> [String] {
        list.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    }

    static func read(_ path: String, limit: Int) throws -> Data {
        do {
            return try RegularFile.read(URL(fileURLWithPath: path), maximumBytes: limit)
        } catch {
            throw CLIError(.usage, error.message)
        }
    }
}
