/// Why `AdapterdClient` could not complete a call (as opposed to the daemon answering with an error,
/// which is thrown as `RPCError`).
public struct AdapterdClientError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: Hashable, Sendable {
        /// The socket does not exist, refuses connections, or may not be opened.
        case cannotConnect
        /// The daemon closed the connection before answering.
        case connectionClosed
        /// The daemon's answer is not a valid response.
        case protocolViolation
        /// The request is larger than the client's frame limit.
        case requestTooLarge
    }

    public let code: Code
    public let message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
