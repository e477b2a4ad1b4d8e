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

/// One log record as one line of text. Messages quote what peers and files sent (error texts,
/// adapter config values, an evaluator's output), so control characters (C0 including line feeds,
/// DEL, C1: terminal escape sequences, forged log lines), bidi controls and U+2028/U+2029 are
/// written as `\u{1B}`, the notation adapterctl uses (its `TerminalSafeText`).
enum LogFormatting {
    static func line(message: Logger.Message, metadata: Logger.Metadata) -> String {
        guard !metadata.isEmpty else { return escapingControls(message.description) }
        let pairs = metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        return escapingControls("\(message) \(pairs)")
    }

    /// `text` with each character a terminal or a log reader would act on written as `\u{XX}`.
    static func escapingControls(_ text: String) -> String {
        func unsafe(_ scalar: Unicode.Scalar) -> Bool {
            switch scalar.value {
            case 0x00...0x1F, 0x7F...0x9F, 0x061C, 0x200E, 0x200F, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069: true
            default: false
            }
        }
        guard text.unicodeScalars.contains(where: unsafe) else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            if unsafe(scalar) {
                let hex = String(scalar.value, radix: 16, uppercase: true)
                result += "\\u{" + (hex.count < 2 ? "0" + hex : hex) + "}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
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
