import Foundation
import Glibc
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// The opt-in Prometheus export (`metrics-textfile` in the configuration): the metrics written as a
/// file for node_exporter's textfile collector, at start, every `interval`, and once more at shutdown.
///
/// Each write is atomic: a new file `.<name>.<random>.tmp` beside the target (created with O_EXCL, so
/// never through an existing file or symlink; mode 0644 whatever the umask, for node_exporter's user),
/// renamed over the target, so the collector reads the previous file or the complete new one and
/// never a `.prom` file half written. Not fsynced: a file lost in a crash is rewritten at the next start.
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

    /// Writes the current text to a temporary file beside `path` and renames it over `path`.
    func write() throws {
        let bytes = Array(try render().utf8)
        let target = URL(fileURLWithPath: path)
        let temp = target.deletingLastPathComponent()
            .appendingPathComponent(".\(target.lastPathComponent).\(UInt64.random(in: 0...UInt64.max)).tmp").path
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Failure("cannot create \(temp): \(Self.errnoText())") }
        var failure: Failure? = nil
        bytes.withUnsafeBytes { raw in
            var written = 0
            while written < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = Failure("cannot write \(temp): \(Self.errnoText())")
                    return
                }
                written += n
            }
        }
        if failure == nil, fchmod(fd, 0o644) != 0 { failure = Failure("cannot chmod \(temp): \(Self.errnoText())") }
        if close(fd) != 0, failure == nil { failure = Failure("cannot close \(temp): \(Self.errnoText())") }
        if failure == nil, rename(temp, path) != 0 { failure = Failure("cannot rename \(temp) to \(path): \(Self.errnoText())") }
        if let failure {
            unlink(temp)
            throw failure
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
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
