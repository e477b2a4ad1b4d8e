import AdapterProtocol
import ArgumentParser

/// `adapterctl list`: the installed tasks as a table.
struct ListCommand: DaemonQueryCommand {
    typealias Method = Methods.List

    static let configuration = CommandConfiguration(commandName: "list", abstract: "List installed tasks.")

    @OptionGroup var client: ClientOptions

    /// The task table (cells escaped for the terminal by `TextTable`), the generation and the budget.
    static func render(_ list: ListResult) -> String {
        if list.tasks.isEmpty {
            return "no tasks installed (generation \(list.generation); budget \(Output.budgetLine(list.budget)))"
        }
        var rows: [[String]] = []
        for task in list.tasks {
            rows.append([
                task.task, "\(task.version)", "\(task.rank)", Output.size(task.bytes), "\(task.examples)",
                Output.format(task.score), task.servedBy.map { String($0.prefix(12)) } ?? "-", task.installedAt,
            ])
        }
        return TextTable(header: ["TASK", "VERSION", "RANK", "SIZE", "EXAMPLES", "SCORE", "SERVED BY", "INSTALLED"], rows: rows).render()
            + "\n\ngeneration \(list.generation); budget: \(Output.budgetLine(list.budget))"
    }
}
