import AdapterProtocol
import Foundation
import Logging
import ServiceLifecycle

/// The daemon as a swift-service-lifecycle service: runs the server, tells systemd it is ready, pings
/// the watchdog, reloads on SIGHUP, and on graceful shutdown stops accepting and drains requests.
struct DaemonLifecycle: Service, Sendable {
    let server: RPCServer
    let daemon: Daemon
    let options: DaemonOptions
    let logger: Logger

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
                group.addTask { await self.daemon.maintenance.monitorStorage() }
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
        guard let status = try? daemon.replanner.budget.status(), let tasks = try? daemon.reads.store.tasks().count else {
            return "serving"
        }
        return "serving \(tasks) tasks, \(ByteSize.format(status.servedBytes)) of \(status.limit.formatted())"
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
            let old = daemon.configuration.settings.withLockedValue { $0 }
            var settings = try options.resolve()
            if settings.socketPath != old.socketPath || settings.stateDirectory != old.stateDirectory {
                logger.warning("socket and state-dir changes take effect at the next restart")
                settings.socketPath = old.socketPath
                settings.stateDirectory = old.stateDirectory
            }
            let policy = try AccessPolicy(daemonUID: getuid(), adminGroupName: settings.adminGroup)
            // The base model's embeddings are read again only when its path changed.
            let previous = daemon.configuration.screening.withLockedValue { $0 } as? DetectorScreening
            let baseModel = BaseModelState.make(settings, reusing: daemon.replanner.baseModel.withLockedValue { $0 })
            let screening = try DetectorScreening.make(settings, reusing: previous?.baseModel, baseModel: baseModel)
            for note in screening.notes { logger.warning("\(note)") }
            if screening.modelName != previous?.modelName { logger.notice("detector: \(screening.modelName)") }
            // The replanner keeps the model just loaded (its own reload of the setting finds it in place).
            daemon.replanner.baseModel.withLockedValue { $0 = baseModel }
            daemon.configuration.reload(settings: settings, screening: screening)
            daemon.reads.reloadTextRouting(settings)
            server.updatePolicy(policy)
            DaemonLogging.level.withLockedValue { $0 = settings.logLevel }
            logger.notice("configuration reloaded", metadata: ["config": "\(settings.configFile ?? "none")"])
        } catch {
            logger.error("configuration reload failed, keeping the previous settings: \(error)")
        }
    }
}
