import AdapterCore
import AdapterProtocol
import ArgumentParser
import Foundation

/// `adapterctl`: the thin client of adapterd, and offline tools (inspect, scan, detector).
public struct AdapterCtl: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "adapterctl",
        abstract: "Inspect, screen and manage LoRA adapters served by adapterd.",
        discussion: """
            The daemon commands talk to adapterd over its Unix socket (--socket, or $ADAPTERD_SOCKET, \
            default \(AdapterdClient.defaultSocketPath)); every one takes --json.

            Exit status:
            \(ExitStatus.allCases.map { "  \($0.rawValue)  \($0.meaning)" }.joined(separator: "\n"))
            """,
        version: AdapterdVersion.string,
        subcommands: [
            StatusCommand.self, InstallCommand.self, ListCommand.self, ShowCommand.self, RemoveCommand.self,
            RouteCommand.self, ReclusterCommand.self, ExportCommand.self, QuarantineCommand.self, BudgetCommand.self,
            ConfigCommand.self, VerifyCommand.self,
            InspectCommand.self, ScanCommand.self, DetectorCommand.self,
        ])

    public init() {}

    /// Runs adapterctl with `arguments` and returns its exit status (errors printed to stderr).
    public static func run(arguments: [String]) async -> Int32 {
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            return ExitStatus.ok.rawValue
        } catch let error as CLIError {
            FileHandle.standardError.write(Data("adapterctl: \(error.message)\n".utf8))
            return error.status.rawValue
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { print(message) }
                return ExitStatus.ok.rawValue
            }
            if !message.isEmpty { FileHandle.standardError.write(Data((message + "\n").utf8)) }
            return code == .validationFailure ? ExitStatus.usage.rawValue : code.rawValue
        }
    }

    /// The entry point of the adapterctl executable.
    public static func runAsMain() async {
        let status = await run(arguments: Array(CommandLine.arguments.dropFirst()))
        Foundation.exit(status)
    }
}
