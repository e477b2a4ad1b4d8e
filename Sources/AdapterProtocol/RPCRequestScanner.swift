import Foundation

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

    /// How many bytes from `start` are printable ASCII other than `"` and `\` (0x20–0x7F): the bulk
    /// of a string, read eight at a time. Bit tricks on a 64-bit word: a byte's high bit is set in
    /// `(w − 0x01…) & ~w & 0x80…` when it is zero, so after xor-ing with a repeated byte, when it
    /// equals that byte; `(w − 0x20…) & ~w` flags bytes below 0x20; `w & 0x80…` bytes above 0x7F.
    /// Borrows can flag a byte after a flagged one, never before, so a word with no flag is clean.
    static func plainRunLength(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        guard let base = bytes.baseAddress else { return 0 }
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        var i = start
        while i + 8 <= bytes.count {
            let w = UInt64(littleEndian: UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self))
            let quote = w ^ (ones &* 0x22)
            let backslash = w ^ (ones &* 0x5C)
            let flags = ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash)
                | ((w &- ones &* 0x20) & ~w) | w
            if flags & highs != 0 { break }
            i += 8
        }
        while i < bytes.count {
            let byte = base[i]
            guard byte >= 0x20, byte < 0x80, byte != 0x22, byte != 0x5C else { break }
            i += 1
        }
        return i - start
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

        /// A string as JSONDecoder reads it: any UTF-8 text but control characters (below 0x20), with
        /// JSON's escapes decoded (`\"` `\\` `\/` `\b` `\f` `\n` `\r` `\t` `\uXXXX`, a surrogate pair as
        /// one character). nil for a lone surrogate, invalid UTF-8 or a malformed escape: the full decoder
        /// then decides. A run without escapes (an install's base64 adapter) is read in one pass.
        mutating func string() -> String? {
            guard consume(UInt8(ascii: "\"")) else { return nil }
            let start = position
            position += RPCRequestScanner.plainRunLength(bytes, from: position)
            var ascii = true
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: "\"") {
                    let run = UnsafeBufferPointer(rebasing: bytes[start..<position])
                    position += 1
                    return ascii ? String(decoding: run, as: UTF8.self) : String(validating: run, as: UTF8.self)
                }
                if byte == UInt8(ascii: "\\") { return escapedString(from: start) }
                guard byte >= 0x20 else { return nil }
                ascii = ascii && byte < 0x80
                position += 1
            }
            return nil
        }

        /// The rest of a string from `start` (just after its opening quote), at least one escape ahead.
        private mutating func escapedString(from start: Int) -> String? {
            var text: [UInt8] = Array(bytes[start..<position])
            while position < bytes.count {
                let byte = bytes[position]
                position += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return String(validating: text, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard position < bytes.count else { return nil }
                    let escape = bytes[position]
                    position += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): text.append(escape)
                    case UInt8(ascii: "b"): text.append(0x08)
                    case UInt8(ascii: "f"): text.append(0x0C)
                    case UInt8(ascii: "n"): text.append(0x0A)
                    case UInt8(ascii: "r"): text.append(0x0D)
                    case UInt8(ascii: "t"): text.append(0x09)
                    case UInt8(ascii: "u"):
                        guard let scalar = unicodeEscape() else { return nil }
                        text.append(contentsOf: String(Character(scalar)).utf8)
                    default: return nil
                    }
                default:
                    guard byte >= 0x20 else { return nil }
                    text.append(byte)
                }
            }
            return nil
        }

        /// The character of a `\uXXXX` escape (the `\u` read), or of a surrogate pair `\uD8xx\uDCxx`;
        /// nil for a lone surrogate.
        private mutating func unicodeEscape() -> Unicode.Scalar? {
            guard let first = hexQuad() else { return nil }
            switch first {
            case 0xD800..<0xDC00:
                guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u")
                else { return nil }
                position += 2
                guard let second = hexQuad(), (0xDC00..<0xE000).contains(second) else { return nil }
                return Unicode.Scalar(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
            case 0xDC00..<0xE000:
                return nil
            default:
                return Unicode.Scalar(first)
            }
        }

        /// Four hexadecimal digits.
        private mutating func hexQuad() -> UInt32? {
            guard position + 4 <= bytes.count else { return nil }
            var value: UInt32 = 0
            for _ in 0..<4 {
                guard let digit = Character(Unicode.Scalar(bytes[position])).hexDigitValue else { return nil }
                value = value << 4 | UInt32(digit)
                position += 1
            }
            return value
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
