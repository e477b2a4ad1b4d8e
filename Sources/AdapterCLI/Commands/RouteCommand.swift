import AdapterProtocol
import ArgumentParser

/// `adapterctl route --task NAME`: which served adapter serves a task; `adapterctl route --text TEXT`:
/// which tasks a text resembles, and the adapters serving them.
struct RouteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "route", abstract: "Show the adapter that serves a task, or the tasks a text resembles.",
        discussion: "Give exactly one of --task and --text.")

    @Option(name: .long, help: "Task name.")
    var task: String?

    @Option(name: .long, help: "Route by this text: the tasks whose examples it most resembles.")
    var text: String?

    @Option(name: .long, help: "With --text: how many tasks to show (1–50, default 3).")
    var top: Int?

    @OptionGroup var client: ClientOptions

    func validate() throws {
        try validateTextOptions()
    }

    func run() async throws {
        if let text { return try await routeText(text) }
        guard let task else { throw ValidationError("give --task NAME or --text TEXT") }
        try await routeTask(task)
    }

    /// Route by task name: prints the serving cluster, its files, sha256, scale and retained quality.
    func routeTask(_ task: String) async throws {
        try await client.query(Methods.Route.self, RouteParams(task: task), render: Self.render)
    }

    /// The route's lines; the daemon's strings escaped for the terminal.
    static func render(_ route: RouteResult) -> String {
        let adapter = route.adapter
        let cluster = adapter.cluster.map { "cluster \($0)" } ?? "adapter \(String(adapter.id.prefix(12)).terminalSafe)"
        let servedBy = adapter.kind != "merged" ? "its own adapter"
            : adapter.tasks.count == 1 ? "its own adapter re-encoded" + (adapter.rank.map { " at rank \($0)" } ?? "")
            : "merged adapter of \(adapter.tasks.count) tasks"
        var lines = [
            "\(route.task.terminalSafe) (version \(route.version)) → \(cluster), \(servedBy), generation \(route.generation)",
            "  serves    \(adapter.tasks.map(\.terminalSafe).joined(separator: ", "))",
        ]
        if let quality = route.retainedQuality {
            lines.append("  retained  \(Output.format(quality))" + (route.evaluator.map { " (by \($0.terminalSafe))" } ?? ""))
        }
        lines.append("  scale     \(adapter.scale.map(Output.format) ?? "-")" + (adapter.rank.map { ", rank \($0)" } ?? ""))
        lines.append("  size      \(Output.size(adapter.bytes))")
        lines.append("  sha256    \((adapter.sha256 ?? adapter.id).terminalSafe)")
        lines.append("  directory \(adapter.directory?.terminalSafe ?? "-")")
        lines.append("  config    \(adapter.configPath?.terminalSafe ?? "-")")
        lines.append("  weights   \(adapter.weightsPath?.terminalSafe ?? "-")")
        return lines.joined(separator: "\n")
    }
}

// MARK: Routing by text

extension RouteCommand {
    /// Exactly one of --task and --text; --top only with --text and in range; a text that is not blank
    /// and not too long.
    func validateTextOptions() throws {
        switch (task, text) {
        case (nil, nil): throw ValidationError("give --task NAME or --text TEXT")
        case (.some, .some): throw ValidationError("give either --task or --text, not both")
        default: break
        }
        if text == nil && top != nil { throw ValidationError("--top applies to --text only") }
        if let text {
            do {
                try TextRouteParams(text: text, top: top).validate()
            } catch {
                throw ValidationError(error.message.replacingOccurrences(of: "\"text\"", with: "--text")
                    .replacingOccurrences(of: "\"top\"", with: "--top"))
            }
        }
    }

    /// Asks the daemon for the tasks `text` resembles and prints them (or the result as JSON).
    func routeText(_ text: String) async throws {
        try await client.query(Methods.RouteText.self, TextRouteParams(text: text, top: top), render: Self.renderTextRoute)
    }

    /// The table of `route --text`: rank, task, similarity, the adapter serving the task and its generation.
    /// Cells are escaped for the terminal by `TextTable`; the embedder's name here.
    static func renderTextRoute(_ result: TextRouteResult) -> String {
        guard !result.matches.isEmpty else {
            return "no task to route to: none is installed (embedder \(result.embedder.terminalSafe))"
        }
        let rows = result.matches.enumerated().map { index, match -> [String] in
            let served = match.route.map {
                "\(Output.servedKind($0.adapter.kind, taskCount: $0.adapter.tasks.count)) \($0.adapter.id.prefix(12))"
            } ?? "not served"
            let generation = match.route.map { "\($0.generation)" } ?? "-"
            return ["\(index + 1)", match.task, Output.format(match.similarity), served, generation]
        }
        return TextTable(header: ["RANK", "TASK", "SIMILARITY", "SERVED BY", "GENERATION"], rows: rows).render()
            + "\n\nembedder: \(result.embedder.terminalSafe)"
    }
}
