import AdapterCore
import AdapterProtocol
import AdapterStore
import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// Runs adapterd: settings, logging, store, screening, the socket server and systemd integration,
/// until SIGTERM/SIGINT (graceful: requests in progress are answered first).
public enum DaemonMain {
    /// Runs the daemon in the foreground; returns after a graceful shutdown.
    public static func run(options: DaemonOptions) async throws {
        let settings = try options.resolve()
        DaemonLogging.bootstrap(level: settings.logLevel)
        var logger = Logger(label: "adapterd")
        logger.logLevel = settings.logLevel
        // One OpenBLAS thread: planning and merging run on the niced planning thread, and BLAS worker
        // threads (not niced) would otherwise take both cores from request handling during a re-cluster.
        BLASThreads.set(1)

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
        let screening = try DetectorScreening.make(settings)
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

        let service = AdapterService(
            store: store, screening: screening, settings: settings, budgetOverride: try options.budgetOverride(),
            socketActivated: !inherited.isEmpty, logger: logger)
        service.noteBudgetSource()
        try await service.reconcile()
        let server = RPCServer(address: address, limits: ServerLimits(settings: settings), policy: policy,
                               methods: service.methods(), logger: logger)
        let lifecycle = DaemonLifecycle(server: server, service: service, options: options, logger: logger)

        let group = ServiceGroup(configuration: .init(
            services: [lifecycle], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
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

/// The daemon as a swift-service-lifecycle service: runs the server, tells systemd it is ready, pings
/// the watchdog, reloads on SIGHUP, and on graceful shutdown stops accepting and drains requests.
final class DaemonLifecycle: Service, Sendable {
    let server: RPCServer
    let service: AdapterService
    let options: DaemonOptions
    let logger: Logger

    init(server: RPCServer, service: AdapterService, options: DaemonOptions, logger: Logger) {
        self.server = server
        self.service = service
        self.options = options
        self.logger = logger
    }

    func run() async throws {
        let hangup = installHangupHandler()
        defer { hangup.cancel() }
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await self.server.run() }
                try await self.server.waitUntilListening()
                SystemdNotifier.ready(status: self.statusLine())
                if let interval = SystemdNotifier.watchdogInterval() {
                    group.addTask { await self.pingWatchdog(every: interval / 2) }
                }
                group.addTask { await self.service.monitorStorage() }
                try await group.next()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.logger.info("stopping: finishing requests in progress")
            SystemdNotifier.stopping()
            self.server.shutDown()
        }
    }

    private func statusLine() -> String {
        guard let status = try? service.budgetStatus(), let tasks = try? service.store.tasks().count else {
            return "serving"
        }
        let limit = status.limitBytes.map(ByteSize.format) ?? "unlimited"
        return "serving \(tasks) tasks, \(ByteSize.format(status.servedBytes)) of \(limit)"
    }

    private func pingWatchdog(every interval: Duration) async {
        while !Task.isCancelled {
            SystemdNotifier.watchdogPing()
            try? await Task.sleep(for: interval)
        }
    }

    /// SIGHUP re-reads the configuration: budget, detector (model, base model, threshold), admin group,
    /// limits of new requests and the log level take effect; a configuration that fails to load (e.g. an
    /// unreadable base model) is logged and the previous one kept; the socket path and state directory
    /// need a restart.
    private func installHangupHandler() -> DispatchSourceSignal {
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler { [self] in self.reload() }
        source.resume()
        return source
    }

    func reload() {
        SystemdNotifier.reloading()
        defer { SystemdNotifier.ready(status: statusLine()) }
        do {
            let old = service.settings.withLockedValue { $0 }
            var settings = try options.resolve()
            if settings.socketPath != old.socketPath || settings.stateDirectory != old.stateDirectory {
                logger.warning("socket and state-dir changes take effect at the next restart")
                settings.socketPath = old.socketPath
                settings.stateDirectory = old.stateDirectory
            }
            let policy = try AccessPolicy(daemonUID: getuid(), adminGroupName: settings.adminGroup)
            // The base model's embeddings are read again only when its path changed.
            let previous = service.screening.withLockedValue { $0 } as? DetectorScreening
            let screening = try DetectorScreening.make(settings, reusing: previous?.baseModel)
            for note in screening.notes { logger.warning("\(note)") }
            if screening.modelName != previous?.modelName { logger.notice("detector: \(screening.modelName)") }
            service.reload(settings: settings, screening: screening)
            service.reloadTextRouting(settings)
            server.updatePolicy(policy)
            DaemonLogging.level.withLockedValue { $0 = settings.logLevel }
            logger.notice("configuration reloaded", metadata: ["config": "\(settings.configFile ?? "none")"])
        } catch {
            logger.error("configuration reload failed, keeping the previous settings: \(error)")
        }
    }
}
