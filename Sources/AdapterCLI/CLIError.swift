import AdapterCore
import AdapterProtocol

/// A failure of adapterctl; its `code` is the exit status it maps to (see `ExitStatus`).
public typealias CLIError = CodedError<ExitStatus>

extension CLIError {
    /// The exit status for an error the daemon answered with.
    public static func status(for error: RPCError) -> ExitStatus {
        switch error.code {
        case .refused, .notFound, .overBudget, .tooLarge, .invalidAdapter: .declined
        case .unauthorized: .unauthorized
        case .invalidParams: .usage
        default: .daemonError
        }
    }
}

/// adapterctl's exit statuses (documented in `adapterctl --help`).
public enum ExitStatus: Int32, CaseIterable, ErrorCode {
    /// Success.
    case ok = 0
    /// The daemon declined: adapter refused by screening, task not found, over budget, too large, invalid adapter.
    case declined = 1
    /// Bad command line, or a local file that cannot be read.
    case usage = 2
    /// The daemon's socket cannot be reached.
    case cannotConnect = 3
    /// The caller may not do this (not root, not in the admin group).
    case unauthorized = 4
    /// The daemon failed, is busy or stopping, or broke the protocol.
    case daemonError = 5

    public var meaning: String {
        switch self {
        case .ok: "success"
        case .declined: "refused by screening, not found, over budget, too large or invalid"
        case .usage: "usage error or unreadable local file"
        case .cannotConnect: "cannot connect to adapterd"
        case .unauthorized: "not allowed to change the daemon (not root or in its admin group)"
        case .daemonError: "the daemon failed, is busy, or broke the protocol"
        }
    }
}
