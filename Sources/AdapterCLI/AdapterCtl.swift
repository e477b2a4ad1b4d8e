import AdapterCore
import AdapterProtocol
import ArgumentParser
import Foundation

/// `adapterctl`: the thin client of adapterd, and offline tools (inspect, scan, detector).
public struct AdapterCtl: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "adapterctl",
        abstract: "Inspect, screen and manage LoRA adapters served by adapterd.",
        usage: "adapterctl [--socket <path>] [--json] <subcommand> [<arguments>]",
        discussion: """
            The daemon commands talk to adapterd over its Unix socket (--socket, or $ADAPTERD_SOCKET, \
            default \(AdapterdClient.defaultSocketPath)); every one takes --json.

            \(GlobalOptionPlacement.helpText)

            --json output is stable: every document is one JSON object (scan --json: one per line) with \
            "schema": \(Output.jsonSchemaVersion). Within a schema version members are only added, never \
            renamed, retyped or removed; a change that would break a reader raises "schema".

            Text that comes from adapter files, other users or the daemon (task names, base models, \
            module names, examples, messages, paths) is shown with control characters (C0, DEL, C1, so \
            also terminal escape sequences), bidi controls (U+061C, U+200E, U+200F, U+202A-U+202E, \
            U+2066-U+2069) and U+2028/U+2029 written in Swift notation: ESC as \\u{1B}, U+202E as \
            \\u{202E}. --json output is exact JSON, with those characters as \\u escapes.

            Exit status:
            \(ExitStatus.allCases.map { "  \($0.rawValue)  \($0.meaning)" }.joined(separator: "\n"))
            """,
        version: AdapterdVersion.string,
        subcommands: [
            StatusCommand.self, InstallCommand.self, ListCommand.self, ShowCommand.self, RemoveCommand.self,
            RouteCommand.self, ReclusterCommand.self, ExportCommand.self, QuarantineCommand.self, BudgetCommand.self,
            ConfigCommand.self, VerifyCommand.self,
            MetricsCommand.self,
            InspectCommand.self, ScanCommand.self, DetectorCommand.self,
            CompletionCommand.self, ManualCommand.self,
        ])

    public init() {}

    /// Runs adapterctl with `arguments` and returns its exit status (errors printed to stderr). Global
    /// options may come before the subcommand (`GlobalOptionPlacement`).
    public static func run(arguments: [String]) async -> Int32 {
        await run(arguments: arguments, reportError: printError)
    }

    /// Runs adapterctl with `arguments`, hands its error message (if any) to `reportError`, and returns
    /// its exit status.
    static func run(arguments: [String], reportError: (String) -> Void) async -> Int32 {
        do {
            var command = try parseAsRoot(GlobalOptionPlacement.normalised(arguments, root: Self.self))
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            return ExitStatus.ok.rawValue
        } catch let error as CLIError {
            reportError("adapterctl: \(error.message)")
            return error.code.rawValue
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { print(message) }  // help, version, completion scripts: our own text
                return ExitStatus.ok.rawValue
            }
            if !message.isEmpty { reportError(message) }
            return code == .validationFailure ? ExitStatus.usage.rawValue : code.rawValue
        }
    }

    /// The entry point of the adapterctl executable.
    public static func runAsMain() async {
        let status = await run(arguments: Array(CommandLine.arguments.dropFirst()))
        Foundation.exit(status)
    }
}
