import JSONStrings

/// A small RFC 8259 JSON parser and writer for the files adapterd reads itself (safetensors headers,
/// adapter_config.json, examples JSONL).
///
/// Unlike `JSONSerialization` it keeps object members in file order, reports duplicate keys instead of
/// silently keeping one of them, bounds nesting depth, and keeps numbers as their literal text so an
/// integer field can be told apart from `8.0` or `1e3`.
enum StrictJSON {
    /// A parsed JSON value. Objects keep their members in the order they appeared.
    enum Value: Sendable, Hashable {
        case null
        case bool(Bool)
        /// The number exactly as written (already checked against the JSON number grammar).
        case number(String)
        case string(String)
        case array([Value])
        case object([Member])

        /// The value as an `Int` if it is a number written as a plain integer that fits.
        var integer: Int? {
            guard case .number(let text) = self else { return nil }
            guard !text.utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") })
            else { return nil }
            return Int(text)
        }

        /// The value as a finite `Double` if it is a number.
        var double: Double? {
            guard case .number(let text) = self, let d = Double(text), d.isFinite else { return nil }
            return d
        }

        var string: String? {
            if case .string(let s) = self { return s }
            return nil
        }

        var members: [Member]? {
            if case .object(let m) = self { return m }
            return nil
        }

        var elements: [Value]? {
            if case .array(let a) = self { return a }
            return nil
        }

        var isNull: Bool { self == .null }

        /// The member named `key` of an object (objects parsed here never hold duplicates).
        subscript(key: String) -> Value? {
            members?.first(where: { $0.key == key })?.value
        }

        /// A short name of the value's kind for error messages.
        var kindName: String {
            switch self {
            case .null: "null"
            case .bool: "a boolean"
            case .number: "a number"
            case .string: "a string"
            case .array: "an array"
            case .object: "an object"
            }
        }
    }

    /// One `"key": value` member of an object.
    struct Member: Sendable, Hashable {
        let key: String
        let value: Value
    }

    /// Why a text is not accepted as JSON.
    enum ParseError: Error, Equatable {
        /// Malformed JSON at a byte offset.
        case syntax(offset: Int, message: String)
        /// The same key twice in one object; `depth` is 1 for the outermost object.
        case duplicateKey(String, depth: Int)
        /// Nesting deeper than the parser's limit.
        case tooDeep(offset: Int)

        var description: String {
            switch self {
            case .syntax(let offset, let message): "\(message) at byte \(offset)"
            case .duplicateKey(let key, _): "duplicate key \"\(key)\""
            case .tooDeep(let offset): "nesting deeper than \(StrictJSON.maximumDepth) levels at byte \(offset)"
            }
        }
    }

    /// Deepest nesting of arrays and objects accepted (the same bound serde_json uses).
    static let maximumDepth = 128

    /// Parses one JSON text (surrounding whitespace allowed, nothing else after the value).
    /// The bytes must already be valid UTF-8 if strings are to be decoded faithfully; invalid UTF-8
    /// inside strings is rejected.
    static func parse<Bytes: Collection>(_ bytes: Bytes) throws(ParseError) -> Value where Bytes.Element == UInt8 {
        let array = Array(bytes)
        var parser = Parser(bytes: array)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        if parser.position != array.count {
            throw .syntax(offset: parser.position, message: "unexpected text after the JSON value")
        }
        return value
    }

    private struct Parser {
        let bytes: [UInt8]
        var position = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func skipWhitespace() {
            while position < bytes.count {
                switch bytes[position] {
                case 0x20, 0x09, 0x0A, 0x0D: position += 1
                default: return
                }
            }
        }

        func fail(_ message: String) -> ParseError { .syntax(offset: position, message: message) }

        mutating func parseValue(depth: Int) throws(ParseError) -> Value {
            guard position < bytes.count else { throw fail("unexpected end of JSON") }
            switch bytes[position] {
            case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
            case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
            case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
            case UInt8(ascii: "n"): try expectLiteral("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
            default: throw fail("unexpected character")
            }
        }

        mutating func expectLiteral(_ literal: StaticString) throws(ParseError) {
            let count = literal.utf8CodeUnitCount
            guard bytes.count - position >= count else { throw fail("unexpected end of JSON") }
            let matches = literal.withUTF8Buffer { lit in
                (0..<count).allSatisfy { bytes[position + $0] == lit[$0] }
            }
            guard matches else { throw fail("invalid literal") }
            position += count
        }

        /// Up to this many members, a new key is checked against the others one by one.
        static let keysCheckedByScan = 8

        mutating func parseObject(depth: Int) throws(ParseError) -> Value {
            guard depth <= StrictJSON.maximumDepth else { throw .tooDeep(offset: position) }
            position += 1  // {
            var members: [Member] = []
            // Keys seen, hashed only once an object has more than a few (most have two or three).
            var seen = Set<String>()
            if consumeEmpty(closedBy: UInt8(ascii: "}")) { return .object(members) }
            while true {
                skipWhitespace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                    throw fail("expected a string key")
                }
                let key = try parseString()
                if members.count < Self.keysCheckedByScan {
                    guard !members.contains(where: { $0.key == key }) else { throw .duplicateKey(key, depth: depth) }
                } else {
                    if seen.isEmpty { seen = Set(members.map(\.key)) }
                    guard seen.insert(key).inserted else { throw .duplicateKey(key, depth: depth) }
                }
                skipWhitespace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                position += 1
                skipWhitespace()
                let value = try parseValue(depth: depth)
                members.append(Member(key: key, value: value))
                if try consumeSeparator(closedBy: UInt8(ascii: "}"), in: "an object") { return .object(members) }
            }
        }

        mutating func parseArray(depth: Int) throws(ParseError) -> Value {
            guard depth <= StrictJSON.maximumDepth else { throw .tooDeep(offset: position) }
            position += 1  // [
            var elements: [Value] = []
            if consumeEmpty(closedBy: UInt8(ascii: "]")) { return .array(elements) }
            while true {
                skipWhitespace()
                elements.append(try parseValue(depth: depth))
                if try consumeSeparator(closedBy: UInt8(ascii: "]"), in: "an array") { return .array(elements) }
            }
        }

        /// At the start of an object or array: consumes white space and `close` if it comes next.
        /// - Returns: whether the container is empty (its closing bracket consumed).
        mutating func consumeEmpty(closedBy close: UInt8) -> Bool {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == close else { return false }
            position += 1
            return true
        }

        /// After a member or element: consumes white space, then ',' or the closing bracket `close`.
        /// - Returns: whether the container ended (false: another member or element follows).
        mutating func consumeSeparator(closedBy close: UInt8, in container: String) throws(ParseError) -> Bool {
            skipWhitespace()
            guard position < bytes.count else { throw fail("unexpected end of JSON in \(container)") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
                return false
            }
            guard bytes[position] == close else { throw fail("expected ',' or '\(Character(Unicode.Scalar(close)))'") }
            position += 1
            return true
        }

        mutating func parseNumber() throws(ParseError) -> String {
            let start = position
            func isDigit(_ i: Int) -> Bool {
                i < bytes.count && bytes[i] >= UInt8(ascii: "0") && bytes[i] <= UInt8(ascii: "9")
            }
            if bytes[position] == UInt8(ascii: "-") { position += 1 }
            guard isDigit(position) else { throw fail("invalid number") }
            if bytes[position] == UInt8(ascii: "0") {
                position += 1
                if isDigit(position) { throw fail("leading zero in a number") }
            } else {
                while isDigit(position) { position += 1 }
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
                position += 1
                guard isDigit(position) else { throw fail("invalid number") }
                while isDigit(position) { position += 1 }
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
                position += 1
                if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                    position += 1
                }
                guard isDigit(position) else { throw fail("invalid number") }
                while isDigit(position) { position += 1 }
            }
            return String(decoding: bytes[start..<position], as: UTF8.self)
        }

        mutating func parseString() throws(ParseError) -> String {
            position += 1  // opening quote
            let decoded = bytes.withUnsafeBufferPointer { JSONStringBody.decode($0, from: position) }
            switch decoded {
            case .success(let string):
                position = string.end
                return string.value
            case .failure(let failure):
                position = failure.offset
                throw fail(failure.message)
            }
        }
    }

    // MARK: - Writing

    /// Compact JSON text of a value, members in their given order.
    static func serialize(_ value: Value) -> String {
        var out = ""
        write(value, into: &out)
        return out
    }

    private static func write(_ value: Value, into out: inout String) {
        switch value {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let text): out += text
        case .string(let s): out += quoted(s)
        case .array(let elements):
            out += "["
            for (i, e) in elements.enumerated() {
                if i > 0 { out += "," }
                write(e, into: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (i, m) in members.enumerated() {
                if i > 0 { out += "," }
                out += quoted(m.key)
                out += ":"
                write(m.value, into: &out)
            }
            out += "}"
        }
    }

    /// A JSON string literal for `s`.
    static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
        return out
    }

    /// A JSON number literal for a finite double: integral values without a fraction, others in
    /// Swift's shortest round-tripping form.
    static func number(_ d: Double) -> Value {
        precondition(d.isFinite, "JSON cannot hold a non-finite number")
        if d == d.rounded(), abs(d) < 1e15 { return .number(String(Int(d))) }
        return .number("\(d)")
    }

    static func number(_ i: Int) -> Value { .number(String(i)) }
}
