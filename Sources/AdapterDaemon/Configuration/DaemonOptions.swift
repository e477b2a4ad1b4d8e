import AdapterCore
import AdapterProtocol
import Foundation
import Logging

/// The command-line settings of `adapterd`; each one given wins over the configuration file.
public struct DaemonOptions: Sendable, Hashable {
    public var socketPath: String?
    public var stateDirectory: String?
    public var configFile: String?
    /// A size text (`64MiB`, `unlimited`), parsed by `resolve()`.
    public var budget: String?
    public var detectorModel: String?
    /// The detector's base model directory (`--detector-base-model`).
    public var detectorBaseModel: String?
    /// The base model the daemon runs (`--base-model`).
    public var baseModel: String?
    public var logLevel: Logger.Level?
    /// `--recover-catalog`: when the catalog is missing while objects exist, move them to
    /// `<state>/lost+found/<time>/` and start with an empty catalog (instead of refusing to start).
    public var recoverCatalog = false

    /// Where the configuration is read from when `--config` is not given (if it exists).
    public static let defaultConfigFile = "/etc/adapterd/adapterd.conf"

    public init(socketPath: String? = nil, stateDirectory: String? = nil, configFile: String? = nil,
                budget: String? = nil, detectorModel: String? = nil, detectorBaseModel: String? = nil,
                logLevel: Logger.Level? = nil) {
        self.socketPath = socketPath
        self.stateDirectory = stateDirectory
        self.configFile = configFile
        self.budget = budget
        self.detectorModel = detectorModel
        self.detectorBaseModel = detectorBaseModel
        self.logLevel = logLevel
    }

    /// The budget flag parsed, nil if not given.
    public func budgetOverride() throws(ConfigurationError) -> Budget? {
        guard let budget else { return nil }
        return try ConfigurationFile.size { () throws(ByteSizeError) in try Budget.parse(budget, what: "--budget") }
    }

    /// Reads the configuration file (the given one, else the default one if present) and applies the flags.
    public func resolve() throws(ConfigurationError) -> DaemonSettings {
        var settings = DaemonSettings()
        if let configFile {
            settings = try ConfigurationFile.load(path: configFile)
        } else if FileManager.default.fileExists(atPath: Self.defaultConfigFile) {
            settings = try ConfigurationFile.load(path: Self.defaultConfigFile)
        }
        if let socketPath { settings.socketPath = socketPath }
        if let stateDirectory { settings.stateDirectory = stateDirectory }
        if let override = try budgetOverride() { settings.budget = override }
        if let detectorModel { settings.detectorModel = detectorModel }
        if let detectorBaseModel { settings.detectorBaseModel = detectorBaseModel }
        if let baseModel { settings.baseModel = baseModel }
        if let logLevel { settings.logLevel = logLevel }
        try settings.validate()
        return settings
    }
}
