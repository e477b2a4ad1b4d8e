import AdapterProtocol
import ArgumentParser

/// `adapterctl quarantine`: adapters refused by screening.
struct QuarantineCommand: DaemonQueryCommand {
    typealias Method = Methods.QuarantineList

    static let configuration = CommandConfiguration(commandName: "quarantine", abstract: "List adapters refused by screening.")

    @OptionGroup var client: ClientOptions

    /// The refused adapters as a table (cells escaped for the terminal by `TextTable`).
    static func render(_ list: QuarantineListResult) -> String {
        if list.entries.isEmpty { return "quarantine is empty" }
        var rows: [[String]] = []
        for entry in list.entries {
            rows.append([
                "\(entry.id)", entry.time, entry.task, entry.verdict.decision, Output.format(entry.verdict.score),
                "\(entry.peerUid)", String(entry.sha256.prefix(16)),
                entry.verdict.topFeatures.first.map { "\($0.name) \(Output.signed($0.contribution))" } ?? "-",
            ])
        }
        return TextTable(header: ["ID", "TIME", "TASK", "DECISION", "SCORE", "UID", "SHA256", "TOP FEATURE"], rows: rows).render()
    }
}
