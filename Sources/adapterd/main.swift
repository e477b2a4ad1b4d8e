import AdapterCore
import ArgumentParser

/// `adapterd`: the daemon's command line. All logic lives in AdapterDaemon.
@main
struct AdapterdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adapterd",
        abstract: "Serve a screened, storage-budgeted set of merged LoRA adapters over a Unix socket.",
        version: AdapterdVersion.string)

    func run() throws {
        print("adapterd \(AdapterdVersion.string)")
    }
}
