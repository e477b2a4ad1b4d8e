import AdapterProtocol
import ArgumentParser

/// `adapterctl route --task NAME`: which served adapter serves a task.
struct RouteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "route", abstract: "Show the adapter that serves a task.")

    @Option(name: .long, help: "Task name.")
    var task: String

    @OptionGroup var client: ClientOptions

    func run() async throws {
        let route = try await client.withClient { try await $0.call(Methods.Route.self, RouteParams(task: task)) }
        if client.json { return Output.printJSON(route) }
        let adapter = route.adapter
        print([
            "\(route.task) (version \(route.version)) → \(adapter.kind) adapter \(adapter.id) in generation \(route.generation)",
            "  serves   \(adapter.tasks.joined(separator: ", "))",
            "  size     \(Output.size(adapter.bytes))",
            "  config   \(adapter.configPath ?? "-")",
            "  weights  \(adapter.weightsPath ?? "-")",
        ].joined(separator: "\n"))
    }
}
