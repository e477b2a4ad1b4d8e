import AdapterCore
import AdapterProtocol
import ArgumentParser
import Foundation

/// `adapterctl manual [--dump FILE]` (hidden): prints adapterctl's manual page, or that of another
/// command from its `--experimental-dump-help` JSON (adapterd's), written from the help texts by
/// `ManualPage`. tools/generate-cli-docs.sh writes docs/man/ with it; a test keeps those pages current.
struct ManualCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "manual",
        abstract: "Print a manual page (troff) made from the help texts.",
        shouldDisplay: false)

    @Option(help: ArgumentHelp(
        "Another command's --experimental-dump-help output, a file or - for stdin (default: adapterctl's own).",
        valueName: "file"))
    var dump: String?

    /// Dumps larger than this are not help texts.
    static let maximumDumpBytes = 4 << 20

    func run() throws {
        let text: String
        switch dump {
        case nil:
            text = AdapterCtl._dumpHelp()
        case "-":
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        case let path?:
            do {
                text = String(decoding: try RegularFile.read(URL(fileURLWithPath: path), maximumBytes: Self.maximumDumpBytes),
                              as: UTF8.self)
            } catch {
                throw CLIError(.usage, "\(path): \(error)")
            }
        }
        do {
            print(try Self.page(dump: text), terminator: "")
        } catch {
            throw CLIError(.usage, "not an --experimental-dump-help document: \(error)")
        }
    }

    /// The page for `dump`, with the sections the help texts do not hold (environment, see also).
    static func page(dump: String) throws -> String {
        let probe = try ManualPage(dump: dump, source: "")
        let extra: [(title: String, text: String)]
        switch probe.command.commandName {
        case "adapterctl":
            extra = [
                ("Environment", "ADAPTERD_SOCKET\n  the daemon's socket when --socket is not given (default \(AdapterdClient.defaultSocketPath))."),
                ("See also", "adapterd(1); docs/PROTOCOL.md for the wire protocol."),
            ]
        default:
            extra = [("See also", "adapterctl(1); docs/PROTOCOL.md for the wire protocol; the systemd units in systemd/.")]
        }
        return try ManualPage(dump: dump, source: "adapterd \(AdapterdVersion.string)", extraSections: extra,
                              machineDependentDefaults: ["jobs": "the number of processors"],
                              globalOptionsDump: probe.command.commandName == "adapterctl" ? ClientOptions._dumpHelp() : nil).render()
    }
}
