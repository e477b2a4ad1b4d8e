import AdapterCore
import AdapterProtocol
import Foundation
import Logging
import NIOConcurrencyHelpers

/// The settings in force: `config.get` reports them, SIGHUP replaces them (with the screening).
struct LiveConfiguration: Sendable {
    let settings: NIOLockedValueBox<DaemonSettings>
    let screening: NIOLockedValueBox<any Screening>
    let budget: BudgetSetting
    let replanner: Replanner

    func configGet() -> ConfigResult {
        let settings = self.settings.withLockedValue { $0 }
        let budget = (try? self.budget.limit()) ?? settings.budget
        var result = ConfigResult(
            configFile: settings.configFile, socket: settings.socketPath, stateDir: settings.stateDirectory,
            budget: budget, detectorModel: settings.detectorModel, detectorThreshold: settings.detectorThreshold, adminGroup: settings.adminGroup,
            maxConnections: settings.maxConnections, maxAdapterBytes: settings.maxAdapterBytes,
            maxFrameBytes: settings.maxFrameBytes, maxReadOnlyFrameBytes: settings.maxReadOnlyFrameBytes,
            idleTimeoutSeconds: settings.idleTimeoutSeconds,
            textEmbedder: settings.textEmbedder.rawValue, minilmDir: settings.minilmDirectory,
            evaluator: settings.evaluator.rawValue,
            evaluatorCommand: settings.evaluatorCommand.isEmpty ? nil : settings.evaluatorCommand,
            evaluatorTimeoutSeconds: settings.evaluatorTimeoutSeconds)
        result.baseModel = settings.baseModel
        return result
    }

    /// Applies reloaded settings and screening (SIGHUP).
    func reload(settings newSettings: DaemonSettings, screening newScreening: any Screening) {
        let old = settings.withLockedValue { old in
            defer { old = newSettings }
            return old
        }
        screening.withLockedValue { $0 = newScreening }
        // From the next loop of a plan on; a loop running keeps its threads.
        if newSettings.planningThreads != old.planningThreads { ComputeThreads.set(newSettings.planningThreads) }
        replanner.settingsChanged(from: old, to: newSettings)
    }
}
