import AdapterDaemon
import AdapterProtocol
import AdapterStore
import Foundation
import Logging

/// A real daemon (server, service and store) run inside the benchmark process on a socket in a
/// temporary directory, screening with `TimedAcceptingScreening` (the real detector, timed, then
/// accepting: it has never seen a 3B profile and would refuse synthetic 3B-shaped adapters as out of
/// distribution, yet every install stage is measured). Used by `server` and `recluster`.
final class InProcessDaemon: Sendable {
    let root: URL
    let socketPath: String
    let screening: TimedAcceptingScreening
    private let store: AdapterStore
    private let server: RPCServer
    private let serverTask: Task<Void, Error>

    /// Starts a daemon with a fresh state directory under a new temporary directory and this
    /// budget, with the daemon's numerics (one BLAS thread and `planningThreads` compute threads,
    /// default the daemon's: one per core, as `adapterd` runs). Call `LoggingSystem.bootstrap` (once
    /// per process) before.
    init(budget: Budget, detectorModel: String?, maxConnectionsPerUser: Int? = nil,
         installPlan: InstallPlanKind = .auto, planningThreads: Int? = nil) async throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("adapterd-bench-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let logger = Logger(label: "bench")
        var settings = DaemonSettings()
        if let planningThreads { settings.planningThreads = planningThreads }
        DaemonMain.configureNumerics(planningThreads: settings.planningThreads)
        settings.socketPath = root.path + "/s.sock"
        settings.stateDirectory = root.path + "/state"
        settings.budget = budget
        settings.installPlan = installPlan
        if let maxConnectionsPerUser {
            settings.maxConnectionsPerUser = max(settings.maxConnectionsPerUser, maxConnectionsPerUser)
            settings.maxConnections = max(settings.maxConnections, maxConnectionsPerUser)
        }
        socketPath = settings.socketPath
        store = try AdapterStore.open(stateDirectory: URL(fileURLWithPath: settings.stateDirectory))
        screening = TimedAcceptingScreening(detector: try DetectorScreening.make(modelPath: detectorModel, thresholdOverride: nil))
        let service = Daemon(store: store, screening: screening, settings: settings, budgetOverride: nil,
                             socketActivated: false, logger: logger)
        let server = RPCServer(address: .path(settings.socketPath), limits: ServerLimits(settings: settings),
                               policy: try AccessPolicy(daemonUID: getuid(), adminGroupName: nil),
                               methods: service.methods(), logger: logger)
        self.server = server
        serverTask = Task { try await server.run() }
        try await server.waitUntilListening()
    }

    /// Shuts the server down, closes the store and removes the temporary directory.
    func stop() async throws {
        server.shutDown()
        try await serverTask.value
        try store.close()
        try? FileManager.default.removeItem(at: root)
    }
}
