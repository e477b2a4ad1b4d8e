import CSystemd
import Foundation

/// The daemon's side of systemd's service protocol: readiness and status (sd_notify), the watchdog,
/// and sockets passed by socket activation (sd_listen_fds). Every call is a no-op without systemd
/// (no NOTIFY_SOCKET / LISTEN_FDS in the environment).
public enum SystemdNotifier {
    /// Sends `READY=1` with a status line.
    public static func ready(status: String) {
        notify("READY=1\nSTATUS=\(sanitize(status))\nMAINPID=\(getpid())")
    }

    /// Sends a `STATUS=` line shown by `systemctl status`.
    public static func status(_ status: String) {
        notify("STATUS=\(sanitize(status))")
    }

    /// Sends `RELOADING=1` with the monotonic timestamp systemd asks for, before re-reading the config.
    public static func reloading() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let usec = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
        notify("RELOADING=1\nMONOTONIC_USEC=\(usec)")
    }

    /// Sends `STOPPING=1` at the start of a graceful shutdown.
    public static func stopping() {
        notify("STOPPING=1\nSTATUS=stopping: finishing requests in progress")
    }

    /// Sends one `WATCHDOG=1` keep-alive.
    public static func watchdogPing() {
        notify("WATCHDOG=1")
    }

    /// The watchdog interval systemd expects pings within (WatchdogSec=), or nil when disabled.
    public static func watchdogInterval() -> Duration? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return .microseconds(Int64(clamping: usec))
    }

    /// Listening sockets passed by systemd (or systemd-socket-activate): their descriptors, starting at 3.
    /// The environment variables are removed so children do not inherit them.
    public static func listenDescriptors() -> [Int32] {
        let count = sd_listen_fds(1)
        guard count > 0 else { return [] }
        return (0..<count).map { SD_LISTEN_FDS_START + $0 }
    }

    /// Whether `descriptor` is a listening Unix stream socket.
    public static func isUnixStreamListener(_ descriptor: Int32) -> Bool {
        sd_is_socket_unix(descriptor, Int32(SOCK_STREAM.rawValue), 1, nil, 0) > 0
    }

    @discardableResult
    static func notify(_ state: String) -> Bool {
        sd_notify(0, state) > 0
    }

    private static func sanitize(_ text: String) -> String {
        text.replacingOccurrences(of: "\n", with: " ")
    }
}
