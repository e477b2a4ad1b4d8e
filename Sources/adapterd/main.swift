import AdapterCore
import AdapterDaemon
import ArgumentParser
import Foundation
import Logging

/// `adapterd`: the daemon's command line. All logic lives in AdapterDaemon.
@main
struct AdapterdCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adapterd",
        abstract: "Serve a screened, storage-budgeted set of merged LoRA adapters over a Unix socket.",
        discussion: """
            Runs in the foreground. Settings come from --config (default \(DaemonOptions.defaultConfigFile) \
            if it exists); the flags below override the file. Under systemd the listening socket may be \
            passed by socket activation; otherwise the daemon binds --socket itself (mode 0660). \
            SIGTERM/SIGINT stop it gracefully, SIGHUP reloads the configuration.
            """,
        version: AdapterdVersion.string)

    /// The allocator's settings first, before other threads allocate (`AllocatorTuning`); then as usual.
    static func main() async {
        _ = AllocatorTuning.inForce
        await main(nil)
    }

    @Option(name: .long, help: ArgumentHelp("Unix socket to listen on.", valueName: "path"))
    var socket: String?

    @Option(name: .customLong("state-dir"), help: ArgumentHelp("Directory of the catalog and adapter files.", valueName: "dir"))
    var stateDir: String?

    @Option(name: .long, help: ArgumentHelp("Configuration file (key = value).", valueName: "file"))
    var config: String?

    /// Taken whatever it looks like, so that `--budget -1` gets the size parser's "negative".
    @Option(name: .long, parsing: .unconditional,
            help: ArgumentHelp("Byte budget of the served set, e.g. 64MiB, 1.5GB, unlimited.", valueName: "size"))
    var budget: String?

    @Option(name: .customLong("detector-model"), help: ArgumentHelp("Detector model file (default: the built-in model).", valueName: "file"))
    var detectorModel: String?

    @Option(name: .customLong("detector-base-model"), help: ArgumentHelp(
        "Base model directory whose token embeddings the detector reads (default: none, weights-only detector).",
        valueName: "dir"))
    var detectorBaseModel: String?

    @Option(name: .customLong("base-model"), help: ArgumentHelp(
        "Base model directory (weights + tokenizer) the daemon runs; with it merges are scored on each task's examples (default: none, weight-space scores).",
        valueName: "dir"))
    var baseModel: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String?

    @Flag(name: .customLong("recover-catalog"), help: ArgumentHelp(
        "When the catalog is missing but objects exist, move them to <state-dir>/lost+found/<time>/ and start empty."))
    var recoverCatalog = false

    func validate() throws {
        if let logLevel, Logger.Level(rawValue: logLevel) == nil {
            let levels = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
            throw ValidationError("--log-level '\(logLevel)' is not one of \(levels)")
        }
        let options = makeOptions()
        do {
            _ = try options.budgetOverride()
        } catch {
            throw ValidationError(error.message)
        }
    }

    func makeOptions() -> DaemonOptions {
        var options = DaemonOptions(socketPath: socket, stateDirectory: stateDir, configFile: config, budget: budget,
                                    detectorModel: detectorModel, detectorBaseModel: detectorBaseModel, logLevel: logLevel.flatMap(Logger.Level.init(rawValue:)))
        options.baseModel = baseModel
        options.recoverCatalog = recoverCatalog
        return options
    }

    func run() async throws {
        do {
            try await DaemonMain.run(options: makeOptions())
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("adapterd: \(error.message)\n".utf8))
            throw ExitCode(2)
        } catch {
            FileHandle.standardError.write(Data("adapterd: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
