/// Reads the body of a JSON string (RFC 8259 §7) from UTF-8 bytes: the one reader of JSON's string
/// escapes, shared by `StrictJSON` (the files adapterd reads) and the request scanner (the socket).
///
/// From just after the opening quote to the closing one: any UTF-8 but control characters (below
/// 0x20); the escapes `\"` `\\` `\/` `\b` `\f` `\n` `\r` `\t` and `\uXXXX`, a surrogate pair as one
/// character. A run of plain printable ASCII (an install's base64 adapter) is read eight bytes at a time.
public enum JSONStringBody {
    /// Why a string body cannot be read, and the byte offset where that was found.
    public struct Failure: Error, Equatable, Sendable {
        public enum Kind: Sendable, Equatable {
            /// The bytes end before the closing quote.
            case unterminated
            /// The bytes end inside an escape.
            case unterminatedEscape
            /// The bytes end inside a `\u` escape's four digits.
            case unterminatedUnicodeEscape
            /// A `\u` escape with a character that is not a hexadecimal digit.
            case invalidUnicodeEscape
            /// A surrogate half without its partner.
            case loneSurrogate
            /// A backslash before a character that is not an escape.
            case invalidEscape
            /// A raw character below 0x20.
            case controlCharacter
            /// The decoded bytes are not UTF-8.
            case notUTF8
        }

        public let kind: Kind
        public let offset: Int

        /// The sentence `StrictJSON` reports.
        public var message: String {
            switch kind {
            case .unterminated: "unterminated string"
            case .unterminatedEscape: "unterminated escape"
            case .unterminatedUnicodeEscape: "unexpected end of JSON in a \\u escape"
            case .invalidUnicodeEscape: "invalid \\u escape"
            case .loneSurrogate: "lone surrogate in a \\u escape"
            case .invalidEscape: "invalid escape"
            case .controlCharacter: "control character in a string"
            case .notUTF8: "string is not valid UTF-8"
            }
        }
    }

    /// The string whose body starts at `start` (just after its opening quote), and the offset just
    /// after its closing quote.
    public static func decode(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int)
        -> Result<(value: String, end: Int), Failure> {
        var position = start + plainRunLength(bytes, from: start)
        var ascii = true
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                let run = UnsafeBufferPointer(rebasing: bytes[start..<position])
                guard let value = ascii ? String(decoding: run, as: UTF8.self) : String(validating: run, as: UTF8.self) else {
                    return .failure(Failure(kind: .notUTF8, offset: position + 1))
                }
                return .success((value, position + 1))
            }
            if byte == UInt8(ascii: "\\") { return escaped(bytes, from: start, at: position) }
            guard byte >= 0x20 else { return .failure(Failure(kind: .controlCharacter, offset: position)) }
            ascii = ascii && byte < 0x80
            position += 1
        }
        return .failure(Failure(kind: .unterminated, offset: position))
    }

    /// How many bytes from `start` are printable ASCII other than `"` and `\` (0x20–0x7F), read eight
    /// at a time. Bit tricks on a 64-bit word: a byte's high bit is set in `(w − 0x01…) & ~w & 0x80…`
    /// when it is zero, so after xor-ing with a repeated byte, when it equals that byte;
    /// `(w − 0x20…) & ~w` flags bytes below 0x20; `w & 0x80…` bytes above 0x7F. Borrows can flag a byte
    /// after a flagged one, never before, so a word with no flag is clean.
    public static func plainRunLength(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        guard let base = bytes.baseAddress else { return 0 }
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        var i = start
        while i + 8 <= bytes.count {
            let w = UInt64(littleEndian: UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self))
            let quote = w ^ (ones &* 0x22)
            let backslash = w ^ (ones &* 0x5C)
            let flags = ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | ((w &- ones &* 0x20) & ~w) | w
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

    /// The rest of a string body from `start`, whose first escape is at `escape`.
    private static func escaped(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, at escape: Int)
        -> Result<(value: String, end: Int), Failure> {
        var text = Array(bytes[start..<escape])
        var position = escape
        var refusal = Failure.Kind.invalidUnicodeEscape
        func failure(_ kind: Failure.Kind) -> Result<(value: String, end: Int), Failure> {
            .failure(Failure(kind: kind, offset: position))
        }
        while position < bytes.count {
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                guard let value = String(validating: text, as: UTF8.self) else { return failure(.notUTF8) }
                return .success((value, position))
            case UInt8(ascii: "\\"):
                position += 1
                guard position < bytes.count else { return failure(.unterminatedEscape) }
                let letter = bytes[position]
                position += 1
                switch letter {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): text.append(letter)
                case UInt8(ascii: "b"): text.append(0x08)
                case UInt8(ascii: "f"): text.append(0x0C)
                case UInt8(ascii: "n"): text.append(0x0A)
                case UInt8(ascii: "r"): text.append(0x0D)
                case UInt8(ascii: "t"): text.append(0x09)
                case UInt8(ascii: "u"):
                    guard let scalar = unicodeEscape(bytes, at: &position, refusing: &refusal) else { return failure(refusal) }
                    text.append(contentsOf: String(Character(scalar)).utf8)
                default: return failure(.invalidEscape)
                }
            default:
                guard byte >= 0x20 else { return failure(.controlCharacter) }
                text.append(byte)
                position += 1
            }
        }
        return failure(.unterminated)
    }

    /// The character of a `\uXXXX` escape whose digits start at `position`, or of a surrogate pair
    /// `\uD8xx\uDCxx`; `position` moves past what was read. nil, with `refusal` set, when it is not one.
    private static func unicodeEscape(_ bytes: UnsafeBufferPointer<UInt8>, at position: inout Int,
                                      refusing refusal: inout Failure.Kind) -> Unicode.Scalar? {
        func refuse(_ kind: Failure.Kind) -> Unicode.Scalar? {
            refusal = kind
            return nil
        }
        guard bytes.count - position >= 4 else { return refuse(.unterminatedUnicodeEscape) }
        guard let unit = hexQuad(bytes, at: &position) else { return refuse(.invalidUnicodeEscape) }
        switch unit {
        case 0xD800..<0xDC00:
            guard bytes.count - position >= 2, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u")
            else { return refuse(.loneSurrogate) }
            position += 2
            guard bytes.count - position >= 4 else { return refuse(.unterminatedUnicodeEscape) }
            guard let low = hexQuad(bytes, at: &position) else { return refuse(.invalidUnicodeEscape) }
            guard (0xDC00..<0xE000).contains(low) else { return refuse(.loneSurrogate) }
            return Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
        case 0xDC00..<0xE000:
            return refuse(.loneSurrogate)
        default:
            return Unicode.Scalar(unit)
        }
    }

    /// Four hexadecimal digits at `position` (which moves past those read); the caller checked that
    /// four bytes are there.
    private static func hexQuad(_ bytes: UnsafeBufferPointer<UInt8>, at position: inout Int) -> UInt32? {
        var value: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[position]
            let digit: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }
}
