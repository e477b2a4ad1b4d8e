import AdapterProtocol
import ArgumentParser
import Crypto
import Foundation

/// `adapterctl export CLUSTER DIR`: writes a served adapter (a cluster's merged adapter, or a task's
/// own) of the current generation as a PEFT LoRA directory.
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a served adapter (cluster) as a PEFT directory.",
        discussion: """
            CLUSTER is a cluster id of the current generation (`adapterctl status` or `route` shows them); \
            with --task, the cluster serving that task. DIR must not exist or be empty; it receives \
            adapter_config.json and adapter_model.safetensors (sha256 checked). Only callers that may \
            change the daemon (root, its user, its admin group) may export: the weights are the operator's.
            """)

    @Argument(help: ArgumentHelp("CLUSTER DIR, or DIR with --task.", valueName: "cluster-and-dir"))
    var positional: [String] = []

    @Option(name: .long, help: "Export the cluster serving this task.")
    var task: String?

    @OptionGroup var client: ClientOptions

    func run() async throws {
        let (params, target) = try resolve()
        try Self.checkWritable(target)
        let result = try await client.withClient { try await $0.call(Methods.Export.self, params) }
        try Self.write(result, to: target)
        if client.json { return Output.printJSON(ExportSummary(result, directory: target)) }
        Output.printText(Self.render(result, directory: target))
    }

    /// What was exported where; the daemon's strings and the path escaped for the terminal.
    static func render(_ result: ExportResult, directory: String) -> String {
        [
            "exported cluster \(result.cluster) (\(result.kind.terminalSafe), generation \(result.generation)) to \(directory.terminalSafe)",
            "  tasks    \(result.tasks.map(\.terminalSafe).joined(separator: ", "))",
            "  sha256   \(result.sha256.terminalSafe)",
            "  scale    \(Output.format(result.scale))",
        ].joined(separator: "\n")
    }

    /// The params and target directory from the arguments (`export CLUSTER DIR` or `export --task T DIR`).
    func resolve() throws -> (ExportParams, String) {
        if let task {
            guard positional.count == 1 else { throw ValidationError("with --task give only DIR") }
            return (ExportParams(task: task), positional[0])
        }
        guard positional.count == 2 else { throw ValidationError("usage: adapterctl export CLUSTER DIR (or --task T DIR)") }
        guard let cluster = Int64(positional[0]) else {
            throw ValidationError("CLUSTER must be a cluster id (a number, as `adapterctl status` shows), not '\(positional[0])'")
        }
        return (ExportParams(cluster: cluster), positional[1])
    }

    /// Refuses a DIR that exists and is not an empty directory.
    static func checkWritable(_ path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return }
        guard isDirectory.boolValue else { throw CLIError(.usage, "\(path) exists and is not a directory") }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        guard entries.isEmpty else {
            throw CLIError(.usage, "\(path) is not empty (\(entries.count) entries); export writes only into a new or empty directory")
        }
    }

    /// Decodes and checks the files, then writes them into `path` (created if needed).
    static func write(_ result: ExportResult, to path: String) throws {
        guard let weights = Data(base64Encoded: result.safetensors) else {
            throw CLIError(.daemonError, "the daemon sent adapter_model.safetensors in invalid base64")
        }
        let digest = SHA256.hash(data: weights).map { String(format: "%02x", $0) }.joined()
        guard digest == result.sha256 else {
            throw CLIError(.daemonError, "the exported weights hash to \(digest), not \(result.sha256) as the daemon said")
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            try Data(result.config.utf8).write(to: URL(fileURLWithPath: path + "/adapter_config.json"), options: .withoutOverwriting)
            try weights.write(to: URL(fileURLWithPath: path + "/adapter_model.safetensors"), options: .withoutOverwriting)
        } catch {
            throw CLIError(.usage, "cannot write \(path): \(error.localizedDescription)")
        }
    }
}

/// What `export --json` prints: the result without the file bytes.
struct ExportSummary: Codable {
    var cluster: Int64
    var generation: Int64
    var kind: String
    var tasks: [String]
    var sha256: String
    var scale: Double
    var directory: String

    init(_ result: ExportResult, directory: String) {
        cluster = result.cluster
        generation = result.generation
        kind = result.kind
        tasks = result.tasks
        sha256 = result.sha256
        scale = result.scale
        self.directory = directory
    }
}
