import AdapterProtocol
import ArgumentParser

/// `adapterctl config`: the daemon's effective settings.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "config", abstract: "Show the daemon's effective settings.")

    @OptionGroup var client: ClientOptions

    func run() async throws {
        let config = try await client.withClient { try await $0.call(Methods.ConfigGet.self, NoParams()) }
        if client.json { return Output.printJSON(config) }
        var table = TextTable(["SETTING", "VALUE"])
        table.add(["config file", config.configFile ?? "(none)"])
        table.add(["socket", config.socket])
        table.add(["state-dir", config.stateDir])
        table.add(["budget", Output.size(config.budgetBytes)])
        table.add(["detector-threshold", config.detectorThreshold.map(Output.format) ?? "model default"])
        table.add(["admin-group", config.adminGroup ?? "none"])
        table.add(["max-connections", "\(config.maxConnections)"])
        table.add(["max-adapter-size", Output.size(config.maxAdapterBytes)])
        table.add(["max request (admin)", Output.size(config.maxFrameBytes)])
        table.add(["max-read-only-request", Output.size(config.maxReadOnlyFrameBytes)])
        table.add(["idle-timeout", "\(config.idleTimeoutSeconds)s"])
        print(table.render())
    }
}
