import AdapterProtocol
import ArgumentParser

/// `adapterctl route --task NAME`: which served adapter serves a task.
struct RouteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "route", abstract: "Show the adapter that serves a task.")

    @Option(name: .long, help: "Task name.")
    var task: String

    @OptionGroup var client: ClientOptions

    func run() async throws {
        try await routeTask(task)
    }

    /// Route by task name: prints the serving cluster, its files, sha256, scale and retained quality.
    func routeTask(_ task: String) async throws {
        let route = try await client.withClient { try await $0.call(Methods.Route.self, RouteParams(task: task)) }
        if client.json { return Output.printJSON(route) }
        print(Self.render(route))
    }

    static func render(_ route: RouteResult) -> String {
        let adapter = route.adapter
        let cluster = adapter.cluster.map { "cluster \($0)" } ?? "adapter \(adapter.id.prefix(12))"
        let servedBy = adapter.kind == "merged" ? "merged adapter of \(adapter.tasks.count) tasks" : "its own adapter"
        var lines = [
            "\(route.task) (version \(route.version)) → \(cluster), \(servedBy), generation \(route.generation)",
            "  serves    \(adapter.tasks.joined(separator: ", "))",
        ]
        if let quality = route.retainedQuality {
            lines.append("  retained  \(Output.format(quality))" + (route.evaluator.map { " (by \($0))" } ?? ""))
        }
        lines.append("  scale     \(adapter.scale.map(Output.format) ?? "-")" + (adapter.rank.map { ", rank \($0)" } ?? ""))
        lines.append("  size      \(Output.size(adapter.bytes))")
        lines.append("  sha256    \(adapter.sha256 ?? adapter.id)")
        lines.append("  directory \(adapter.directory ?? "-")")
        lines.append("  config    \(adapter.configPath ?? "-")")
        lines.append("  weights   \(adapter.weightsPath ?? "-")")
        return lines.joined(separator: "\n")
    }
}
