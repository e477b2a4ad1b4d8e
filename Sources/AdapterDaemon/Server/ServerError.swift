import AdapterCore
import AdapterProtocol

/// The server's own refusals, before or around a method's handler: a method that does not exist or
/// that the peer may not call, a connection or frame over a limit, a daemon that is stopping, or a
/// handler that failed with an error that answers no request. What a client gets for each kind is
/// decided in WireErrors.swift.
typealias ServerError = CodedError<ServerErrorCode>

/// The kind of a `ServerError`.
enum ServerErrorCode: ErrorCode {
    /// No method has the name asked for.
    case methodNotFound
    /// The peer may not call the method.
    case unauthorized
    /// A request or response exceeds a size limit (with the limit, when a frame announced its size).
    case tooLarge(TooLargeDetails?)
    /// Too many connections are open; retry later.
    case busy
    /// The daemon is stopping and takes no new connections or requests.
    case shuttingDown
    /// A handler failed with an error that is a fault inside adapterd.
    case failed
}
