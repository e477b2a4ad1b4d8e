import Foundation

/// Params with one string member too large for JSONEncoder's character-by-character escaping: an
/// install's adapter, tens of megabytes of base64. `RPCEncoding.request` encodes the others with
/// JSONEncoder and writes this member's text in place as it is, when it needs no escape (no `"`, `\`
/// or control character; base64 never does). The bytes are exactly JSONEncoder's for the same params
/// (its output options write every other character unescaped), at a fraction of the cost.
public protocol VerbatimStringMember: Codable, Sendable {
    /// The member's key in the encoded params.
    static var verbatimKey: String { get }
    /// The member's value.
    var verbatimValue: String { get }
    /// The same params with the member's value replaced.
    func replacingVerbatimValue(with value: String) -> Self
}

extension InstallParams: VerbatimStringMember {
    public static var verbatimKey: String { "safetensors" }
    public var verbatimValue: String { safetensors }

    public func replacingVerbatimValue(with value: String) -> InstallParams {
        var params = self
        params.safetensors = value
        return params
    }
}

enum VerbatimRequestEncoding {
    /// Values shorter than this are encoded by JSONEncoder as usual: splicing pays off only for large ones.
    static let minimumBytes = 64 * 1024

    /// The request JSONEncoder would write, made by splicing the verbatim member's text into the
    /// encoding of the rest; nil when the value is short, needs an escape, or the member's place is
    /// not found exactly once (the caller then encodes the usual way).
    static func request<P: VerbatimStringMember>(id: RPCID, method: String, params: P) throws -> Data? {
        var value = params.verbatimValue
        guard value.utf8.count >= minimumBytes, needsNoEscape(&value) else { return nil }
        let rest = try JSONCoding.sharedEncoder.encode(
            RPCRequest(id: id, method: method, params: params.replacingVerbatimValue(with: "")))
        // Every other string's quotes are escaped in the encoding, so `"key":""` can only be the member.
        let marker = Data("\"\(P.verbatimKey)\":\"\"".utf8)
        guard let place = rest.firstRange(of: marker), rest[place.upperBound...].firstRange(of: marker) == nil else {
            return nil
        }
        let insertAt = place.upperBound - 1   // between the two quotes of the empty value
        var data = Data()
        data.reserveCapacity(rest.count + value.utf8.count)
        data.append(rest[..<insertAt])
        value.withUTF8 { data.append($0.baseAddress!, count: $0.count) }
        data.append(rest[insertAt...])
        return data
    }

    /// Whether JSONEncoder writes `value` without any escape: no `"`, no `\`, no byte below 0x20.
    static func needsNoEscape(_ value: inout String) -> Bool {
        value.withUTF8 { bytes in
            var bad: UInt8 = 0
            for byte in bytes {
                // Branch-free over the whole value: one pass the compiler can vectorise.
                let isQuote: UInt8 = byte == 0x22 ? 1 : 0
                let isBackslash: UInt8 = byte == 0x5C ? 1 : 0
                let isControl: UInt8 = byte < 0x20 ? 1 : 0
                bad |= isQuote | isBackslash | isControl
            }
            return bad == 0
        }
    }
}
