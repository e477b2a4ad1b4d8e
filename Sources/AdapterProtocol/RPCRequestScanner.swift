import Foundation
import JSONStrings

/// A quick reader for the common shape of a request, so that a `route` or `status` need not go
/// through `JSONDecoder` twice (once for the envelope, once for the params).
///
/// It accepts only a strict subset of JSON whose meaning is unambiguous: one object with the members
/// `jsonrpc`, `id`, `method` and `params` (each at most once), strings (escapes decoded as JSONDecoder
/// decodes them), an `id` that is a plain integer of at most 18 digits, and `params` an object whose
/// values are strings. For anything else (numbers with fractions or exponents, longer numbers, which
/// may not fit Int64, nesting, `null`, unknown members, a lone surrogate, errors of any kind) it
/// answers nil and the caller uses the full decoder, so the outcome for every input is the same as
/// with the full decoder alone. Outside strings it accepts only ASCII, and every string it accepts is
/// valid UTF-8, so the frame is.
enum RPCRequestScanner {
    struct Scanned {
        var jsonrpc: String
        var id: RPCID?
        var method: String
        /// nil when the request has no `params` member.
        var params: [String: String]?
    }

    static func scan(_ payload: Data) -> Scanned? {
        payload.withUnsafeBytes { raw -> Scanned? in
            var reader = Reader(bytes: raw.bindMemory(to: UInt8.self))
            return reader.request()
        }
    }

    private struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        var position = 0

        init(bytes: UnsafeBufferPointer<UInt8>) {
            self.bytes = bytes
        }

        mutating func request() -> Scanned? {
            guard consume(UInt8(ascii: "{")) else { return nil }
            var jsonrpc: String?
            var id: RPCID?
            var method: String?
            var params: [String: String]?
            var seen: Set<String> = []
            while true {
                guard let key = string(), seen.insert(key).inserted, consume(UInt8(ascii: ":")) else { return nil }
                switch key {
                case "jsonrpc":
                    guard let value = string() else { return nil }
                    jsonrpc = value
                case "method":
                    guard let value = string() else { return nil }
                    method = value
                case "id":
                    skipWhitespace()
                    if peek == UInt8(ascii: "\"") {
                        guard let value = string() else { return nil }
                        id = .string(value)
                    } else {
                        guard let value = integer() else { return nil }
                        id = .number(value)
                    }
                case "params":
                    guard let value = flatObject() else { return nil }
                    params = value
                default:
                    return nil
                }
                if consume(UInt8(ascii: "}")) { break }
                guard consume(UInt8(ascii: ",")) else { return nil }
            }
            skipWhitespace()
            guard position == bytes.count, let jsonrpc, let method else { return nil }
            return Scanned(jsonrpc: jsonrpc, id: id, method: method, params: params)
        }

        var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func skipWhitespace() {
            while let byte = peek, byte.isJSONWhitespace { position += 1 }
        }

        /// Skips whitespace, then consumes `byte` if it is next.
        mutating func consume(_ byte: UInt8) -> Bool {
            skipWhitespace()
            guard peek == byte else { return false }
            position += 1
            return true
        }

        /// A string as JSONDecoder reads it (`JSONStringBody`: escapes decoded, UTF-8 checked); nil
        /// for anything it refuses (a lone surrogate, invalid UTF-8, a control character, a malformed
        /// escape): the full decoder then decides.
        mutating func string() -> String? {
            guard consume(UInt8(ascii: "\"")) else { return nil }
            guard case .success(let string) = JSONStringBody.decode(bytes, from: position) else { return nil }
            position = string.end
            return string.value
        }

        /// The most digits `integer()` reads: any 18-digit number fits Int64 (whose limits have 19 digits),
        /// so accumulating them cannot overflow. Longer numbers are left to the full decoder.
        static let maximumDigits = 18

        /// An integer without fraction or exponent, at most `maximumDigits` digits, no leading zeros.
        mutating func integer() -> Int64? {
            skipWhitespace()
            var negative = false
            if peek == UInt8(ascii: "-") {
                negative = true
                position += 1
            }
            let start = position
            var value: Int64 = 0
            while let byte = peek, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                // Checked before the multiplication: a peer's 19th digit must not overflow `value`.
                guard position - start < Self.maximumDigits else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
                position += 1
            }
            let digits = position - start
            guard digits >= 1, !(digits > 1 && bytes[start] == UInt8(ascii: "0")) else { return nil }
            // A fraction or exponent would follow directly; leave those to the full decoder.
            if let byte = peek, byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
                return nil
            }
            return negative ? -value : value
        }

        /// An object whose values are all simple strings, each key at most once.
        mutating func flatObject() -> [String: String]? {
            guard consume(UInt8(ascii: "{")) else { return nil }
            var members: [String: String] = [:]
            if consume(UInt8(ascii: "}")) { return members }
            while true {
                guard let key = string(), members[key] == nil, consume(UInt8(ascii: ":")),
                      let value = string() else { return nil }
                members[key] = value
                if consume(UInt8(ascii: "}")) { return members }
                guard consume(UInt8(ascii: ",")) else { return nil }
            }
        }
    }
}

/// Params that can be made from the members `RPCRequestScanner` read (string values only), giving
/// exactly what `JSONDecoder` would give for the same object, or nil to let `JSONDecoder` decide.
public protocol ScannedParamsDecodable {
    init?(scannedMembers: [String: String])
}

extension NoParams: ScannedParamsDecodable {
    /// Every member is ignored, as the decoder ignores unknown members.
    public init?(scannedMembers: [String: String]) {
        self.init()
    }
}

extension RouteParams: ScannedParamsDecodable {
    public init?(scannedMembers: [String: String]) {
        guard scannedMembers.keys.allSatisfy({ $0 == "task" || $0 == "text" }) else { return nil }
        self.init(task: scannedMembers["task"], text: scannedMembers["text"])
    }
}

extension InstallParams: ScannedParamsDecodable {
    /// The four string members; `labels` (an array) leaves the request to the full decoder, and so
    /// does a `labels` member the scanner read as a string (which JSONDecoder refuses).
    public init?(scannedMembers: [String: String]) {
        guard scannedMembers["labels"] == nil, let task = scannedMembers["task"], let config = scannedMembers["config"],
              let safetensors = scannedMembers["safetensors"], let examples = scannedMembers["examples"] else { return nil }
        self.init(task: task, config: config, safetensors: safetensors, examples: examples)
    }
}
