import AdapterProtocol
import ArgumentParser

/// `adapterctl show TASK`: one task in detail.
struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one task in detail.")

    @Argument(help: "Task name.")
    var task: String

    @OptionGroup var client: ClientOptions

    func run() async throws {
        let detail = try await client.withClient { try await $0.call(Methods.Show.self, TaskParams(task: task)) }
        if client.json { return Output.printJSON(detail) }
        let summary = detail.summary
        var lines = [
            "task        \(summary.task) version \(summary.version)",
            "sha256      \(summary.sha256)",
            "size        \(Output.size(summary.bytes)), rank \(summary.rank), \(detail.dtype)",
            "base model  \(summary.baseModel ?? "-")",
            "targets     \(detail.targetModules.joined(separator: ", "))",
            "installed   \(summary.installedAt)",
            "verdict     \(detail.verdict.decision), score \(Output.format(detail.verdict.score)) (threshold \(Output.format(detail.verdict.threshold)), \(detail.verdict.model))",
            "served by   \(summary.servedBy ?? "-")",
            "examples    \(summary.examples)",
        ]
        if !detail.previousVersions.isEmpty {
            lines.append("replaced    versions \(detail.previousVersions.map(String.init).joined(separator: ", ")) (never served again)")
        }
        for example in detail.examplePreview {
            lines.append("  " + (example.count > 100 ? String(example.prefix(97)) + "..." : example))
        }
        print(lines.joined(separator: "\n"))
    }
}
