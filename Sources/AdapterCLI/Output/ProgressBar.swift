import AdapterProtocol
import Foundation

/// A one-line progress bar on stderr, drawn only when stderr is a terminal; the daemon's message
/// is shown escaped (`TerminalSafeText`).
final class ProgressBar: @unchecked Sendable {
    private let enabled: Bool
    private let lock = NSLock()
    private var drawn = false

    init(enabled: Bool = isatty(2) == 1) {
        self.enabled = enabled
    }

    func update(_ progress: ProgressParams) {
        guard enabled else { return }
        let width = 30
        let fraction = min(1, max(0, progress.fraction))
        let filled = Int((fraction * Double(width)).rounded())
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let line = String(format: "\r%@ %3.0f%% %@", bar, fraction * 100, progress.message.terminalSafe)
        let padded = line.padding(toLength: max(line.count, 100), withPad: " ", startingAt: 0)
        lock.withLock {
            drawn = true
            FileHandle.standardError.write(Data(padded.utf8))
        }
    }

    /// Ends the line so that following output starts clean.
    func finish() {
        guard enabled, lock.withLock({ drawn }) else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
    }
}
