import AdapterCore
import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// The opt-in Prometheus export (`metrics-textfile` in the configuration): the metrics written as a
/// file for node_exporter's textfile collector, at start, every `interval`, and once more at shutdown.
///
/// Each write is atomic (`DurableFile`): a new temporary file beside the target (created with O_EXCL, so
/// never through an existing file or symlink; mode 0644 whatever the umask, for node_exporter's user),
/// fsynced and renamed over the target, so the collector reads the previous file or the complete new
/// one and never a `.prom` file half written.
/// A write that fails is logged (once until it works again) and does not stop the daemon.
struct MetricsTextfileWriter: Service {
    let path: String
    let interval: Duration
    /// The exposition text to write.
    let render: @Sendable () throws -> String
    let logger: Logger
    /// The last failure logged, so a lasting one is logged once.
    private let lastFailure = NIOLockedValueBox<String?>(nil)

    init(path: String, interval: Duration, logger: Logger, render: @escaping @Sendable () throws -> String) {
        self.path = path
        self.interval = interval
        self.render = render
        self.logger = logger
    }

    func run() async {
        repeat {
            writeLoggingFailure()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        } while !Task.isShuttingDownGracefully && !Task.isCancelled
        // The final values, after the requests in progress were answered (this service stops after the server).
        writeLoggingFailure()
    }

    /// Writes the file now; logs a failure instead of throwing.
    func writeLoggingFailure() {
        do {
            try write()
            if lastFailure.withLockedValue({ $0 }) != nil {
                lastFailure.withLockedValue { $0 = nil }
                logger.notice("metrics textfile \(path) written again")
            }
        } catch {
            let message = "\(error)"
            let isNew = lastFailure.withLockedValue { last in
                defer { last = message }
                return last != message
            }
            if isNew { logger.warning("cannot write the metrics textfile \(path): \(message)") }
        }
    }

    /// Writes the current text to a temporary file beside `path` and renames it over `path`
    /// (`DurableFile`, mode 0644 whatever the umask).
    func write() throws {
        let text = try render()
        do {
            try DurableFile.write(Data(text.utf8), to: URL(fileURLWithPath: path), permissions: 0o644)
        } catch let failure as DurableFile.Failure {
            throw Failure("cannot write the metrics textfile \(path): \(failure.description)")
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

}

extension Daemon {
    /// The writer of `metrics-textfile`, or nil when the setting is off.
    func metricsTextfileWriter(_ settings: DaemonSettings, logger: Logger) -> MetricsTextfileWriter? {
        guard let path = settings.metricsTextfile else { return nil }
        logger.info("writing metrics to \(path) every \(settings.metricsIntervalSeconds) s")
        return MetricsTextfileWriter(path: path, interval: .milliseconds(Int64(settings.metricsIntervalSeconds * 1000)),
                                     logger: logger) { [metrics, reads] in
            try metrics.exposition(reads: reads).text
        }
    }
}
