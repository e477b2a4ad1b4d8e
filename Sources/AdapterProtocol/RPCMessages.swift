import Foundation

/// A JSON-RPC 2.0 request (with an id) or notification (without one) carrying typed params.
public struct RPCRequest<Params: Codable & Sendable>: Codable, Sendable {
    public var jsonrpc: String = "2.0"
    public var id: RPCID?
    public var method: String
    public var params: Params?

    public init(id: RPCID?, method: String, params: Params?) {
        self.id = id
        self.method = method
        self.params = params
    }
}

/// A successful response.
public struct RPCSuccess<Result: Codable & Sendable>: Codable, Sendable {
    public var jsonrpc: String = "2.0"
    public var id: RPCID
    public var result: Result

    public init(id: RPCID, result: Result) {
        self.id = id
        self.result = result
    }
}

/// A failed response. `id` is null when the request's id could not be read (parse error, invalid
/// request, oversized frame); it is always present in the JSON.
public struct RPCFailure: Error, Codable, Sendable {
    public var jsonrpc: String = "2.0"
    public var id: RPCID?
    public var error: RPCError

    public init(id: RPCID?, error: RPCError) {
        self.id = id
        self.error = error
    }

    enum CodingKeys: String, CodingKey { case jsonrpc, id, error }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(jsonrpc, forKey: .jsonrpc)
        if let id { try container.encode(id, forKey: .id) } else { try container.encodeNil(forKey: .id) }
        try container.encode(error, forKey: .error)
    }
}

/// A server-to-client notification (no id, no response), e.g. `progress`.
public struct RPCNotification<Params: Codable & Sendable>: Codable, Sendable {
    public var jsonrpc: String = "2.0"
    public var method: String
    public var params: Params

    public init(method: String, params: Params) {
        self.method = method
        self.params = params
    }
}

/// The envelope of any inbound message, read without its params or result so that a large payload is
/// decoded only once, into its typed form.
public struct RPCEnvelope: Decodable, Sendable {
    public var jsonrpc: String?
    /// nil: no id member; .some(nil): `"id": null`.
    public var id: RPCID??
    public var method: String?
    public var hasParams: Bool
    public var hasResult: Bool
    public var error: RPCError?

    enum CodingKeys: String, CodingKey { case jsonrpc, id, method, params, result, error }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        jsonrpc = try container.decodeIfPresent(String.self, forKey: .jsonrpc)
        if container.contains(.id) {
            id = try container.decodeNil(forKey: .id) ? .some(nil) : .some(try container.decode(RPCID.self, forKey: .id))
        } else {
            id = nil
        }
        method = try container.decodeIfPresent(String.self, forKey: .method)
        hasParams = container.contains(.params)
        hasResult = container.contains(.result)
        error = try container.decodeIfPresent(RPCError.self, forKey: .error)
    }
}

/// Reads the `params` member of a request as a typed value.
struct RPCParamsOnly<Params: Decodable>: Decodable {
    var params: Params?
}

/// Reads the `result` member of a response as a typed value.
struct RPCResultOnly<Result: Decodable>: Decodable {
    var result: Result
}

/// An inbound request validated against JSON-RPC 2.0, with its raw bytes kept for typed decoding.
public struct RPCInboundRequest: Sendable {
    public let id: RPCID?
    public let method: String
    public let hasParams: Bool
    public let payload: Data
    /// The params as `RPCRequestScanner` read them (string members only), nil when it could not.
    let scannedParams: [String: String]?

    /// Validates one frame's payload. Throws the `RPCFailure` to send back when it is not a request.
    public static func parse(_ payload: Data) throws(RPCFailure) -> RPCInboundRequest {
        // The common small request is read without JSONDecoder; anything else goes the full way.
        if let scanned = RPCRequestScanner.scan(payload) {
            return try validated(jsonrpc: scanned.jsonrpc, id: scanned.id.map { Optional($0) }, method: scanned.method,
                                 hasParams: scanned.params != nil, scannedParams: scanned.params, payload: payload)
        }
        return try parseDecoding(payload)
    }

    /// `parse` with JSONDecoder only (what the scanner must agree with).
    static func parseDecoding(_ payload: Data) throws(RPCFailure) -> RPCInboundRequest {
        // JSONDecoder looks only at the strings it decodes; a frame must be UTF-8 throughout.
        if let offset = UTF8Validation.firstInvalidOffset(in: payload) {
            let byte = payload[payload.startIndex + offset]
            throw RPCFailure(id: nil, error: RPCError(
                code: .parseError,
                message: "the frame is not valid UTF-8 (at byte \(offset), 0x\(String(byte, radix: 16, uppercase: true)))"))
        }
        let envelope: RPCEnvelope
        do {
            envelope = try JSONCoding.decoder.decode(RPCEnvelope.self, from: payload)
        } catch DecodingError.typeMismatch(_, let context) where context.codingPath.isEmpty {
            if payload.first(where: { !$0.isJSONWhitespace }) == UInt8(ascii: "[") {
                throw RPCFailure(id: nil, error: RPCError(
                    code: .invalidRequest, message: "batch requests are not supported; send one request per frame"))
            }
            throw RPCFailure(id: nil, error: RPCError(code: .invalidRequest, message: "a request must be a JSON object"))
        } catch where DecodingErrorLocator.isUnlocated(error) {
            // Valid JSON with a member that cannot be read (e.g. "method": "\ud800") is not a request;
            // anything else is not JSON.
            if let located = DecodingErrorLocator.locate(RPCEnvelope.self, in: payload) {
                throw RPCFailure(id: nil, error: RPCError(
                    code: .invalidRequest, message: "not a JSON-RPC 2.0 request: \(Self.describe(located))"))
            }
            throw RPCFailure(id: nil, error: RPCError(code: .parseError, message: "the frame is not valid JSON"))
        } catch {
            throw RPCFailure(id: nil, error: RPCError(
                code: .invalidRequest, message: "not a JSON-RPC 2.0 request: \(Self.describe(error))"))
        }
        return try validated(jsonrpc: envelope.jsonrpc, id: envelope.id, method: envelope.method,
                             hasParams: envelope.hasParams, scannedParams: nil, payload: payload)
    }

    /// The JSON-RPC 2.0 checks of a read envelope. `id`: nil when absent, `.some(nil)` when null.
    private static func validated(jsonrpc: String?, id envelopeID: RPCID??, method: String?, hasParams: Bool,
                                  scannedParams: [String: String]?, payload: Data) throws(RPCFailure) -> RPCInboundRequest {
        let id = envelopeID ?? nil
        guard jsonrpc == "2.0" else {
            throw RPCFailure(id: id, error: RPCError(code: .invalidRequest, message: "member \"jsonrpc\" must be \"2.0\""))
        }
        guard let method, !method.isEmpty else {
            throw RPCFailure(id: id, error: RPCError(code: .invalidRequest, message: "member \"method\" must be a non-empty string"))
        }
        if case .some(.none) = envelopeID {
            throw RPCFailure(id: nil, error: RPCError(code: .invalidRequest, message: "member \"id\" must not be null"))
        }
        return RPCInboundRequest(id: id, method: method, hasParams: hasParams, payload: payload, scannedParams: scannedParams)
    }

    /// Decodes the params as `P`; absent params decode as `P` from an empty object.
    public func params<P: Decodable>(as type: P.Type) throws(RPCError) -> P {
        if let fast = type as? any ScannedParamsDecodable.Type,
           let params = fast.init(scannedMembers: scannedParams ?? [:]) as? P,
           scannedParams != nil || !hasParams {
            return params
        }
        do {
            if hasParams, let params = try JSONCoding.decoder.decode(RPCParamsOnly<P>.self, from: payload).params {
                return params
            }
            return try JSONCoding.decoder.decode(P.self, from: Data("{}".utf8))
        } catch {
            let described = Self.describe(error, decoding: RPCParamsOnly<P>.self, from: payload)
            throw RPCError(code: .invalidParams, message: "invalid params for \(method): \(described)")
        }
    }

    /// `describe(error)` for an error of decoding `type` from `data`; when JSONDecoder did not say
    /// where the error is, the member it is about (found by `DecodingErrorLocator`).
    static func describe<T: Decodable>(_ error: Error, decoding type: T.Type, from data: Data) -> String {
        guard DecodingErrorLocator.isUnlocated(error), let located = DecodingErrorLocator.locate(type, in: data) else {
            return describe(error)
        }
        return describe(located)
    }

    /// A readable sentence for a decoding error: which member, what was wrong.
    static func describe(_ error: Error) -> String {
        func path(_ keys: [CodingKey]) -> String {
            var joined = ""
            for key in keys {
                if let index = key.intValue {
                    joined += "[\(index)]"
                } else {
                    joined += (joined.isEmpty ? "" : ".") + key.stringValue
                }
            }
            return joined.isEmpty ? "the value" : "\"\(joined)\""
        }
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "missing member \(path(context.codingPath + [key]))"
        case DecodingError.typeMismatch(let type, let context):
            return "\(path(context.codingPath)) must be of type \(type)"
        case DecodingError.valueNotFound(let type, let context):
            return "\(path(context.codingPath)) must be a \(type), not null"
        case DecodingError.dataCorrupted(let context):
            return "\(path(context.codingPath)): \(context.debugDescription)"
        case let error as UnrepresentableValue:
            return "\(path(error.codingPath)) must be \(error.requirement)"
        default:
            return String(describing: error)
        }
    }
}

extension UInt8 {
    var isJSONWhitespace: Bool { self == 0x20 || self == 0x09 || self == 0x0A || self == 0x0D }
}

/// Encodes outbound messages to frame payloads.
public enum RPCEncoding {
    public static func success<R: Codable & Sendable>(id: RPCID, result: R) throws -> Data {
        try JSONCoding.encoder.encode(RPCSuccess(id: id, result: result))
    }

    /// A success response around a result already encoded as JSON text: the same bytes as
    /// `success(id:result:)` gives for the value `encodedResult` encodes (members sorted: id, jsonrpc, result).
    public static func success(id: RPCID, encodedResult: Data) throws -> Data {
        var data = Data()
        data.reserveCapacity(encodedResult.count + 48)
        data.append(contentsOf: #"{"id":"#.utf8)
        switch id {
        case .number(let value): data.append(contentsOf: String(value).utf8)
        case .string: data.append(try JSONCoding.sharedEncoder.encode(id))
        }
        data.append(contentsOf: #","jsonrpc":"2.0","result":"#.utf8)
        data.append(encodedResult)
        data.append(UInt8(ascii: "}"))
        return data
    }

    public static func failure(id: RPCID?, error: RPCError) -> Data {
        (try? JSONCoding.encoder.encode(RPCFailure(id: id, error: error)))
            ?? Data(#"{"error":{"code":-32603,"message":"could not encode an error"},"id":null,"jsonrpc":"2.0"}"#.utf8)
    }

    public static func notification<P: Codable & Sendable>(method: String, params: P) throws -> Data {
        try JSONCoding.encoder.encode(RPCNotification(method: method, params: params))
    }

    public static func request<P: Codable & Sendable>(id: RPCID, method: String, params: P) throws -> Data {
        if let large = params as? any VerbatimStringMember,
           let data = try VerbatimRequestEncoding.request(id: id, method: method, params: large) {
            return data
        }
        return try JSONCoding.encoder.encode(RPCRequest(id: id, method: method, params: params))
    }
}
