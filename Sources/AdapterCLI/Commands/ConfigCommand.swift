import AdapterProtocol
import ArgumentParser

/// `adapterctl config`: the daemon's effective settings.
struct ConfigCommand: DaemonQueryCommand {
    typealias Method = Methods.ConfigGet

    static let configuration = CommandConfiguration(commandName: "config", abstract: "Show the daemon's effective settings.")

    @OptionGroup var client: ClientOptions

    /// The settings as a table.
    static func render(_ config: ConfigResult) -> String {
        var rows: [[String]] = []
        rows.append(["config file", config.configFile ?? "(none)"])
        rows.append(["socket", config.socket])
        rows.append(["state-dir", config.stateDir])
        rows.append(["budget", config.budget.formatted()])
        rows.append(["detector-model", config.detectorModel ?? "built-in"])
        rows.append(["base-model", config.baseModel ?? "none"])
        rows.append(["detector-threshold", config.detectorThreshold.map(Output.format) ?? "model default"])
        rows.append(["admin-group", config.adminGroup ?? "none"])
        rows.append(["max-connections", "\(config.maxConnections)"])
        rows.append(["max-adapter-size", Output.size(config.maxAdapterBytes)])
        rows.append(["max request (admin)", Output.size(config.maxFrameBytes)])
        rows.append(["max-read-only-request", Output.size(config.maxReadOnlyFrameBytes)])
        rows.append(["idle-timeout", "\(config.idleTimeoutSeconds)s"])
        if let evaluator = config.evaluator { rows.append(["evaluator", evaluator]) }
        if let command = config.evaluatorCommand { rows.append(["evaluator-command", command.joined(separator: " ")]) }
        if let timeout = config.evaluatorTimeoutSeconds { rows.append(["evaluator-timeout", "\(timeout)s"]) }
        return TextTable(header: ["SETTING", "VALUE"], rows: rows).render()
    }
}
