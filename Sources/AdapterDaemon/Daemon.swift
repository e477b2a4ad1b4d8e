import AdapterCore
import AdapterStore
import Logging
import NIOConcurrencyHelpers

/// The daemon's use cases, wired together: reads, installs/removals, re-planning, maintenance,
/// export and configuration. Holds no logic of its own; `methods()` (Methods/DaemonMethods.swift)
/// maps every protocol method to one of them.
public final class Daemon: Sendable {
    let reads: ReadModel
    let replanner: Replanner
    let installer: Installer
    let maintenance: Maintenance
    let exporter: Exporter
    let configuration: LiveConfiguration
    /// This daemon's metrics, in a registry of its own (Metrics/DaemonMetrics.swift).
    let metrics = DaemonMetrics()
    /// Runs the per-request heavy work of install (parse, signature, screening) and export.
    let requestThread = WorkerThread(name: "adapterd-requests")

    public convenience init(store: AdapterStore, screening: any Screening, settings: DaemonSettings, budgetOverride: Budget?,
                            socketActivated: Bool, logger: Logger) {
        self.init(store: store, screening: screening, settings: settings, budgetOverride: budgetOverride,
                  socketActivated: socketActivated, baseModel: BaseModelState.make(settings), logger: logger)
    }

    /// A daemon on a base model already loaded (the one its screening runs, so it is loaded once).
    init(store: AdapterStore, screening: any Screening, settings: DaemonSettings, budgetOverride: Budget?,
         socketActivated: Bool, baseModel: BaseModelState, logger: Logger) {
        let settingsBox = NIOLockedValueBox(settings)
        let screeningBox = NIOLockedValueBox<any Screening>(screening)
        let budget = BudgetSetting(store: store, commandLine: budgetOverride, settings: settingsBox)
        let textIndex = TaskEmbeddingIndex(store: store, kind: settings.textEmbedder,
                                           minilmDirectory: settings.minilmDirectory, logger: logger)
        reads = ReadModel(store: store, budget: budget, screening: screeningBox, textIndex: textIndex,
                          socketActivated: socketActivated, logger: logger)
        replanner = Replanner(store: store, settings: settingsBox, budget: budget, reads: reads, metrics: metrics,
                              baseModel: baseModel, logger: logger)
        let gate = ScreeningGate(store: store, screening: screeningBox, reads: reads, requestThread: requestThread,
                                 logger: logger)
        installer = Installer(store: store, settings: settingsBox, gate: gate, replanner: replanner, reads: reads,
                              requestThread: requestThread, logger: logger)
        maintenance = Maintenance(store: store, replanner: replanner, reads: reads, logger: logger)
        exporter = Exporter(store: store, reads: reads, maintenance: maintenance, requestThread: requestThread)
        configuration = LiveConfiguration(settings: settingsBox, screening: screeningBox, budget: budget,
                                          replanner: replanner)
    }

    deinit {
        requestThread.stop()
    }
}
