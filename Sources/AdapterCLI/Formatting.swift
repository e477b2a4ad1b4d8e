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

/// Bytes in binary units: "512 B", "1.5 KiB", "3.2 MiB".
func formatBytes(_ n: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(n)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
    return unit == 0 ? "\(n) B" : String(format: "%.1f %@", value, units[unit])
}
