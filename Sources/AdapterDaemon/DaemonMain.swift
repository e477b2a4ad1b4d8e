import AdapterCore
import AdapterProtocol
import AdapterStore
import BLASKernels
import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// Runs adapterd: settings, logging, store, screening, the socket server and systemd integration,
/// until SIGTERM/SIGINT (graceful: requests in progress are answered first).
public enum DaemonMain {
    /// The process-wide numerics the daemon runs with: one OpenBLAS thread, and `planningThreads`
    /// compute threads. Planning and merging run on the niced planning thread, which splits a plan's
    /// modules over threads it starts itself (they inherit its priority, `ParallelLoop`); BLAS worker
    /// threads (not niced) would otherwise take the cores from request handling during a re-cluster,
    /// and spin waiting for work on the small products planning is made of. A daemon run inside
    /// another process (the bench) calls this too. (The allocator's settings are made in `main`:
    /// `AllocatorTuning`.)
    public static func configureNumerics(planningThreads: Int) {
        BLASThreads.set(1)
        ComputeThreads.set(planningThreads)
    }

    /// Runs the daemon in the foreground; returns after a graceful shutdown.
    public static func run(options: DaemonOptions) async throws {
        let settings = try options.resolve()
        let kernelSwitch = BLASKernelSwitch.ensureFittingKernels()   // may execute adapterd again
        DaemonLogging.bootstrap(level: settings.logLevel)
        var logger = Logger(label: "adapterd")
        logger.logLevel = settings.logLevel
        configureNumerics(planningThreads: settings.planningThreads)
        logger.debug("allocator: \(AllocatorTuning.inForce?.joined(separator: ", ") ?? "glibc's defaults or GLIBC_TUNABLES")")
        switch kernelSwitch {
        case .switched(let line)?: logger.notice("\(line)")
        case .failed(let line)?: logger.warning("\(line)")
        case nil:
            // No switch was due, or the operator chose the kernels: say so if they are narrower than the CPU.
            if let note = BLASKernelCheck.currentNote() { logger.warning("\(note)") }
        }

        let store: AdapterStore
        do {
            store = try AdapterStore.open(stateDirectory: URL(fileURLWithPath: settings.stateDirectory, isDirectory: true),
                                          options: AdapterStore.OpenOptions(recoverCatalog: options.recoverCatalog))
        } catch {
            throw DaemonError("cannot open the state directory \(settings.stateDirectory): \(error)")
        }
        for note in store.openNotes { logger.warning("\(note)") }
        if let reason = store.readOnlyReason() {
            logger.error("the state directory is read-only for now, serving what it holds: \(reason)")
        }
        for damaged in store.damagedObjects() {
            logger.error("stored object \(damaged.digest.hex) is damaged: \(damaged.problem)")
        }
        let baseModel = BaseModelState.make(settings)
        let screening = try DetectorScreening.make(settings, baseModel: baseModel)
        for note in screening.notes { logger.warning("\(note)") }
        logger.info("detector: \(screening.modelName)")
        let policy = try AccessPolicy(daemonUID: getuid(), adminGroupName: settings.adminGroup)

        let inherited = SystemdNotifier.listenDescriptors()
        let address: ListenAddress
        if let fd = inherited.first {
            guard SystemdNotifier.isUnixStreamListener(fd) else {
                throw DaemonError("the socket passed by systemd (fd \(fd)) is not a listening Unix stream socket")
            }
            if inherited.count > 1 { logger.warning("systemd passed \(inherited.count) sockets; using fd \(fd) only") }
            address = .descriptor(fd)
        } else {
            address = .path(settings.socketPath)
        }

        let daemon = Daemon(
            store: store, screening: screening, settings: settings, budgetOverride: try options.budgetOverride(),
            socketActivated: !inherited.isEmpty, baseModel: baseModel, logger: logger)
        daemon.replanner.budget.noteSource(logger: logger)
        try await daemon.replanner.reconcile()
        let server = RPCServer(address: address, limits: ServerLimits(settings: settings), policy: policy,
                               methods: daemon.methods(), logger: logger)
        let lifecycle = DaemonLifecycle(server: server, daemon: daemon, options: options, logger: logger)
        // The textfile writer comes first, so it stops last (services stop in reverse order) and its last
        // write has the requests answered during the shutdown.
        let textfile = daemon.metricsTextfileWriter(settings, logger: logger).map { [$0] as [any Service] } ?? []

        let group = ServiceGroup(configuration: .init(
            services: textfile + [lifecycle], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        try? store.close()
        logger.info("adapterd stopped")
    }
}

/// A fatal start-up problem, reported on stderr with exit status 1.
public struct DaemonError: Error, Hashable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
