import AdapterCore

/// Identity of the daemon as reported in logs and status.
public enum DaemonInfo {
    public static let name = "adapterd"
    public static var version: String { AdapterdVersion.string }
}
