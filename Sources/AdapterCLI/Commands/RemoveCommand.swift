import AdapterProtocol
import ArgumentParser

/// `adapterctl remove TASK`: stop serving a task.
struct RemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a task; it is no longer served.")

    @Argument(help: "Task name.")
    var task: String

    @OptionGroup var client: ClientOptions

    func run() async throws {
        let result = try await client.withClient { try await $0.call(Methods.Remove.self, TaskParams(task: task)) }
        if client.json { return Output.printJSON(result) }
        Output.printText("removed \(result.task.terminalSafe) version \(result.version); generation \(result.generation); budget: \(Output.budgetLine(result.budget))")
    }
}
