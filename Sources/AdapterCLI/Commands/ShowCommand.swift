import AdapterProtocol
import ArgumentParser

/// `adapterctl show TASK`: one task in detail.
struct ShowCommand: DaemonQueryCommand {
    typealias Method = Methods.Show

    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one task in detail.")

    @Argument(help: "Task name.")
    var task: String

    @OptionGroup var client: ClientOptions

    var params: TaskParams { TaskParams(task: task) }

    /// The task's lines; its strings (from the adapter's files and its installer) escaped for the terminal.
    static func render(_ detail: TaskDetail) -> String {
        let summary = detail.summary
        let verdict = detail.verdict
        var lines = [
            "task        \(summary.task.terminalSafe) version \(summary.version)",
            "sha256      \(summary.sha256.terminalSafe)",
            "size        \(Output.size(summary.bytes)), rank \(summary.rank), \(detail.dtype.terminalSafe)",
            "base model  \(summary.baseModel?.terminalSafe ?? "-")",
            "targets     \(detail.targetModules.map(\.terminalSafe).joined(separator: ", "))",
            "installed   \(summary.installedAt.terminalSafe)",
            "verdict     \(verdict.decision.terminalSafe), score \(Output.format(verdict.score)) (threshold \(Output.format(verdict.threshold)), \(verdict.model.terminalSafe))",
            "served by   \(summary.servedBy?.terminalSafe ?? "-")",
            "examples    \(summary.examples)",
        ]
        if !detail.previousVersions.isEmpty {
            lines.append("replaced    versions \(detail.previousVersions.map(String.init).joined(separator: ", ")) (never served again)")
        }
        for example in detail.examplePreview {
            lines.append("  " + (example.count > 100 ? String(example.prefix(97)) + "..." : example).terminalSafe)
        }
        return lines.joined(separator: "\n")
    }
}
