import CSystemd
import Foundation
import Logging
import NIOConcurrencyHelpers

/// A swift-log handler that writes to the systemd journal with syslog priorities (error → 3,
/// warning → 4, notice → 5, info → 6, debug/trace → 7) and metadata as `key=value` in the message.
public struct JournalLogHandler: LogHandler {
    /// The daemon-wide level (changed by a configuration reload).
    public var logLevel: Logger.Level {
        get { DaemonLogging.level.withLockedValue { $0 } }
        set { DaemonLogging.level.withLockedValue { $0 = newValue } }
    }
    public var metadata: Logger.Metadata = [:]
    private let identifier: String
    private let label: String

    public init(label: String, identifier: String = "adapterd") {
        self.label = label
        self.identifier = identifier
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let text = LogFormatting.line(message: event.message, metadata: metadata.merging(event.metadata ?? [:]) { $1 })
        _ = csystemd_journal_send(Self.priority(event.level), identifier, text)
    }

    /// The syslog priority of a level.
    public static func priority(_ level: Logger.Level) -> Int32 {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// Whether the process's stderr is connected to the journal (systemd sets JOURNAL_STREAM to the
    /// device and inode of that stream).
    public static var stderrIsJournal: Bool {
        guard let value = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(2, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }
}

/// A swift-log handler writing one line per message to stderr: time, level, message, metadata.
public struct StderrLogHandler: LogHandler {
    /// The daemon-wide level (changed by a configuration reload).
    public var logLevel: Logger.Level {
        get { DaemonLogging.level.withLockedValue { $0 } }
        set { DaemonLogging.level.withLockedValue { $0 = newValue } }
    }
    public var metadata: Logger.Metadata = [:]

    public init() {}

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let text = LogFormatting.line(message: event.message, metadata: metadata.merging(event.metadata ?? [:]) { $1 })
        let time = Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))
        let line = "\(time) \(event.level.rawValue.uppercased()) adapterd: \(text)\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}

enum LogFormatting {
    static func line(message: Logger.Message, metadata: Logger.Metadata) -> String {
        guard !metadata.isEmpty else { return message.description }
        let pairs = metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        return "\(message) \(pairs)"
    }
}

/// Chooses the log destination: the journal under systemd, stderr otherwise.
public enum DaemonLogging {
    /// The minimum level of every handler.
    public static let level = NIOLockedValueBox(Logger.Level.info)

    public static func bootstrap(level: Logger.Level) {
        self.level.withLockedValue { $0 = level }
        let useJournal = JournalLogHandler.stderrIsJournal
        LoggingSystem.bootstrap { label -> any LogHandler in
            if useJournal { return JournalLogHandler(label: label) }
            return StderrLogHandler()
        }
    }
}
