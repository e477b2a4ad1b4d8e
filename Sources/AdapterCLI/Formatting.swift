import Foundation

/// Writes a message to standard error, escaped for the terminal (`TerminalSafeText`) except for its
/// line breaks: messages quote paths, adapter files and the daemon.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((TerminalSafeText.escape(message, keepingLineBreaks: true) + "\n").utf8))
}

/// A number in at most 4 significant digits, in scientific notation when very small or large.
func formatNumber(_ x: Double) -> String {
    if x == 0 { return "0" }
    if !x.isFinite { return "\(x)" }
    let a = abs(x)
    if a >= 1e5 || a < 1e-3 { return String(format: "%.3e", x) }
    var s = String(format: "%.4g", x)
    if s.contains("e") { s = String(format: "%.3e", x) }
    return s
}
