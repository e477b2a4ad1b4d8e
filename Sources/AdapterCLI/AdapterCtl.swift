import AdapterCore
import ArgumentParser

/// `adapterctl`: the thin client of adapterd, and offline tools (inspect, scan, detector).
public struct AdapterCtl: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "adapterctl",
        abstract: "Inspect, screen and manage LoRA adapters served by adapterd.",
        version: AdapterdVersion.string,
        subcommands: [InspectCommand.self, ScanCommand.self, DetectorCommand.self])

    public init() {}
}
