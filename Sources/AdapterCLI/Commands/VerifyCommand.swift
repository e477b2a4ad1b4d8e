import AdapterProtocol
import ArgumentParser
import Foundation

/// `adapterctl verify`: hash every stored object and report the damaged ones.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Hash every stored adapter and examples file; report (and set aside) the damaged ones.",
        discussion: """
            Reads every stored byte (admin only). A damaged object is moved to <state-dir>/damaged/ (never \
            deleted), is no longer served, and the served set is re-planned without it; install its task \
            again to repair it. Exit status 1 when something is damaged. Progress is drawn on stderr when \
            it is a terminal.
            """)

    @OptionGroup var client: ClientOptions

    func run() async throws {
        let bar = ProgressBar(enabled: !client.json && isatty(2) == 1)
        let result: VerifyResult
        do {
            result = try await client.withClient { connection in
                try await connection.call(Methods.Verify.self, NoParams()) { bar.update($0) }
            }
            bar.finish()
        } catch {
            bar.finish()
            throw error
        }
        if client.json {
            Output.printJSON(result)
        } else {
            Output.printText(Self.render(result))
        }
        if !result.damagedObjects.isEmpty {
            throw CLIError(.declined, "\(result.damagedObjects.count) stored object\(result.damagedObjects.count == 1 ? " is" : "s are") damaged")
        }
    }

    static func render(_ result: VerifyResult) -> String {
        let summary = "verified \(result.checkedObjects) stored objects (\(Output.size(result.checkedBytes))) in "
            + String(format: "%.1f s", result.seconds)
        guard !result.damagedObjects.isEmpty else { return summary + ": all intact" }
        var lines = [summary + ": \(result.damagedObjects.count) damaged", ""]
        let rows = result.damagedObjects.map { object in
            [String(object.sha256.prefix(12)), object.tasks.joined(separator: ", "),
             object.clusters.map(String.init).joined(separator: ", "), object.problem]
        }
        lines.append(TextTable(header: ["SHA256", "TASKS", "CLUSTERS", "PROBLEM"], rows: rows).render())
        lines.append("")
        lines.append("Damaged files are set aside under the state directory's damaged/ (never deleted) and not served; "
                     + "install the tasks above again to repair them.")
        return lines.joined(separator: "\n")
    }
}
