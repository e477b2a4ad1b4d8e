import AdapterProtocol
import ArgumentParser

/// `adapterctl remove TASK`: stop serving a task.
struct RemoveCommand: DaemonQueryCommand {
    typealias Method = Methods.Remove

    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a task; it is no longer served.")

    @Argument(help: "Task name.")
    var task: String

    @OptionGroup var client: ClientOptions

    var params: TaskParams { TaskParams(task: task) }

    /// The one line: what was removed, the new generation and the budget.
    static func render(_ result: RemoveResult) -> String {
        "removed \(result.task.terminalSafe) version \(result.version); generation \(result.generation); budget: \(Output.budgetLine(result.budget))"
    }
}
