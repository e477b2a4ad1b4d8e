/// The stable numeric error codes of the adapterd protocol (docs/PROTOCOL.md, "Errors").
///
/// The first five are JSON-RPC 2.0's own; adapterd's are in the implementation-defined range
/// -32000 … -32099 and never change meaning once published.
public struct RPCErrorCode: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// The frame's payload is not valid UTF-8 JSON.
    public static let parseError = RPCErrorCode(rawValue: -32700)
    /// The JSON is not a JSON-RPC 2.0 request object.
    public static let invalidRequest = RPCErrorCode(rawValue: -32600)
    /// No such method.
    public static let methodNotFound = RPCErrorCode(rawValue: -32601)
    /// The params do not match the method's params (missing member, wrong type, bad value).
    public static let invalidParams = RPCErrorCode(rawValue: -32602)
    /// A fault inside adapterd; the message says what failed.
    public static let internalError = RPCErrorCode(rawValue: -32603)

    /// The peer (SO_PEERCRED) may not call a mutating method.
    public static let unauthorized = RPCErrorCode(rawValue: -32001)
    /// The named task (or other object) does not exist.
    public static let notFound = RPCErrorCode(rawValue: -32002)
    /// The detector refused the adapter (poisoned or out of distribution); `data` holds the verdict.
    public static let refused = RPCErrorCode(rawValue: -32003)
    /// Serving the adapter would exceed the byte budget; `data` holds the budget figures.
    public static let overBudget = RPCErrorCode(rawValue: -32004)
    /// A frame or an adapter exceeds a size limit; `data` holds the limit.
    public static let tooLarge = RPCErrorCode(rawValue: -32005)
    /// Too many connections or a conflicting operation in progress; retry later.
    public static let busy = RPCErrorCode(rawValue: -32006)
    /// The adapter or its examples failed validation (format, shapes, non-finite values, base model).
    public static let invalidAdapter = RPCErrorCode(rawValue: -32007)
    /// The daemon is shutting down and accepts no new work.
    public static let shuttingDown = RPCErrorCode(rawValue: -32008)
    /// The daemon cannot change its state right now (disk full, read-only state directory, catalog
    /// deleted while running); reads still work and the message says what to do.
    public static let readOnly = RPCErrorCode(rawValue: -32009)

    /// Short name of the code as used in docs/PROTOCOL.md and by adapterctl.
    public var name: String {
        switch self {
        case .parseError: "parse error"
        case .invalidRequest: "invalid request"
        case .methodNotFound: "method not found"
        case .invalidParams: "invalid params"
        case .internalError: "internal error"
        case .unauthorized: "unauthorized"
        case .notFound: "not found"
        case .refused: "refused"
        case .overBudget: "over budget"
        case .tooLarge: "too large"
        case .busy: "busy"
        case .invalidAdapter: "invalid adapter"
        case .shuttingDown: "shutting down"
        case .readOnly: "read only"
        default: "error \(rawValue)"
        }
    }

    public var description: String { "\(rawValue) (\(name))" }

    public init(from decoder: Decoder) throws {
        self.rawValue = try decoder.singleValueContainer().decode(Int.self)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// A JSON-RPC error object: what a failed request gets back, and what `AdapterdClient` throws.
public struct RPCError: Error, Hashable, Sendable, Codable, CustomStringConvertible {
    public var code: RPCErrorCode
    public var message: String
    /// Structured details: the verdict for `refused`, budget figures for `overBudget`, the limit for
    /// `tooLarge`.
    public var data: JSONValue?

    public init(code: RPCErrorCode, message: String, data: JSONValue? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    /// Builds an error whose `data` is an encodable value.
    public init<D: Encodable>(code: RPCErrorCode, message: String, details: D) {
        self.init(code: code, message: message, data: try? JSONValue(encoding: details))
    }

    /// Decodes `data` as a typed value (e.g. `RefusalDetails` for `refused`).
    public func details<D: Decodable>(as type: D.Type) -> D? {
        guard let data else { return nil }
        return try? data.decode(as: type)
    }

    public var description: String { "\(message) [\(code)]" }
}
