import AdapterCore
@_spi(Testing) @testable import AdapterProtocol
import Foundation
import Testing

/// Random requests, valid and damaged, read the daemon's way (the scanner first) and by JSONDecoder
/// alone: the outcome (request or error, and every method's params or error) must be the same.
@Suite("Request scanner properties")
struct RPCRequestScannerPropertyTests {
    /// Seeded, so a failure names an input that can be regenerated.
    struct RequestGenerator {
        var random: SeededGenerator
        /// While set, only the shapes the scanner reads: printable ASCII strings, integers, flat params.
        var plain = false

        init(seed: UInt64) { random = SeededGenerator(seed: seed) }

        mutating func below(_ n: Int) -> Int { Int(random.next() % UInt64(n)) }
        mutating func chance(_ p: Double) -> Bool { random.nextUnitDouble() < p }
        mutating func pick<T>(_ values: [T]) -> T { values[below(values.count)] }

        mutating func whitespace() -> String { chance(0.8) ? "" : pick([" ", "\n", "\t", "\r\n", "   "]) }

        mutating func digits(_ count: Int) -> String {
            String((0..<count).map { index in Character(String(index == 0 ? 1 + below(9) : below(10))) })
        }

        /// Numbers of every form JSON has (and a few it has not): any length, signs, zeros, fractions, exponents.
        mutating func number() -> String {
            let sign = chance(0.3) ? "-" : ""
            switch below(plain ? 5 : 12) {
            case 0: return plain ? pick(["0", "-0"]) : pick(["0", "-0", "0.0", "-0.0", "0e0", "-0E+0"])
            case 1: return sign + digits(1 + below(3))
            case 2: return sign + digits(15 + below(4))
            case 3: return sign + digits(19)
            case 4: return sign + digits(20 + below(12))
            case 5: return sign + digits(100 + below(350))
            case 6: return pick(["9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
                                 "999999999999999999", "-999999999999999999", "1000000000000000000"])
            case 7: return sign + digits(1 + below(20)) + "." + String(digits(1 + below(5)).reversed())
            case 8: return sign + digits(1 + below(4)) + pick(["e", "E"]) + pick(["", "+", "-"]) + digits(1 + below(3))
            case 9: return pick(["1e400", "-1e400", "1e-400", "0.1e1", "1.0", "1.5", "100e-2", "12345678901234567890e-2"])
            case 10: return sign + "0" + digits(1 + below(3))  // leading zero: not JSON
            default: return sign + pick([".5", "1.", "1e", "--1", "+1", "0x10"])  // not JSON
            }
        }

        /// A JSON string literal: mostly printable ASCII (what the scanner reads), else escapes,
        /// non-ASCII, unpaired surrogates and things JSON does not allow.
        mutating func string() -> String {
            var text = "\""
            for _ in 0..<below(12) {
                if plain || chance(0.75) {
                    text += pick(["a", "b", "z", "Q", "0", "9", " ", ".", "_", "-", "/", "summarize", "task", "{", "}", ",", ":"])
                } else {
                    text += pick([#"\n"#, #"\""#, #"\\"#, #"\/"#, #"\t"#, #"\u0041"#, #"\u00e9"#, "é", "😀", #"\ud83d\ude00"#,
                                  #"\ud800"#, #"\udc00"#, #"\x"#, #"\u12"#, "\u{01}", "\u{7F}", "\u{2028}"])
                }
            }
            return text + "\""
        }

        mutating func value(depth: Int) -> String {
            switch below(depth > 2 ? 5 : 8) {
            case 0, 1: return string()
            case 2: return number()
            case 3: return pick(["true", "false"])
            case 4: return "null"
            case 5: return object(depth: depth + 1, keys: ["a", "b", "task"])
            case 6: return "[" + (0..<below(4)).map { _ in whitespace() + value(depth: depth + 1) + whitespace() }.joined(separator: ",") + "]"
            default: return string()
            }
        }

        mutating func object(depth: Int, keys: [String]) -> String {
            let members = (0..<below(5)).map { _ -> String in
                let key = chance(0.9) ? "\"\(pick(keys))\"" : string()
                let value = plain || chance(0.6) ? string() : self.value(depth: depth)
                return whitespace() + key + whitespace() + ":" + whitespace() + value + whitespace()
            }
            return "{" + members.joined(separator: ",") + whitespace() + "}"
        }

        static let methods = ["status", "route", "list", "show", "remove", "install", "budget.set", "recluster", "export",
                              "route.text", "quarantine.list", "config.get", "nope", ""]
        static let paramKeys = ["task", "text", "top", "bytes", "budget", "dryRun", "cluster", "config", "safetensors",
                                "examples", "unknown"]

        /// A request object with members in any order, sometimes an extra, a duplicate or a wrong type.
        mutating func request() -> String {
            plain = chance(0.4)
            defer { plain = false }
            var members: [(String, String)] = []
            if chance(0.95) { members.append(("jsonrpc", chance(0.95) ? "\"2.0\"" : pick(["\"1.0\"", "2.0", "null", #""2\u002e0""#]))) }
            if chance(0.9) {
                let id: String = switch below(10) {
                case 0...4: number()
                case 5, 6: string()
                case 7: "null"
                default: pick(["[1]", "{}", "true", "\"\""])
                }
                members.append(("id", id))
            }
            if chance(0.95) {
                members.append(("method", chance(0.85) ? "\"\(pick(Self.methods))\"" : pick([string(), number(), "null", #""st\u0061tus""#])))
            }
            if chance(0.7) {
                let params: String = switch below(10) {
                case 0...7: object(depth: 0, keys: Self.paramKeys)
                case 8: pick(["[]", "null", "\"x\"", "1"])
                default: "{" + "\"bytes\":" + number() + "," + "\"top\":" + number() + "," + "\"cluster\":" + number() + "}"
                }
                members.append(("params", params))
            }
            if chance(0.05) { members.append((pick(["extra", "result", "error"]), value(depth: 1))) }
            if chance(0.05), let duplicate = members.first { members.append(duplicate) }
            members.shuffle(using: &random)
            let body = members.map { key, value in whitespace() + "\"\(key)\"" + whitespace() + ":" + whitespace() + value + whitespace() }
            return whitespace() + "{" + body.joined(separator: ",") + "}" + whitespace()
        }

        /// `text` damaged in one of the ways a frame can be: cut, a byte dropped, inserted or replaced
        /// (invalid UTF-8 included), garbage after it.
        mutating func damaged(_ text: String) -> [UInt8] {
            var bytes = Array(text.utf8)
            guard !bytes.isEmpty else { return [0xFF] }
            let at = below(bytes.count)
            switch below(6) {
            case 0: bytes.removeSubrange(at...)
            case 1: bytes.remove(at: at)
            case 2: bytes.insert(pick([0xFF, 0xC3, 0x80, 0xED, 0x00, 0x22, 0x5C, 0x7B, 0x7D, 0x2C, 0x3A, 0x20, 0x2D, 0x30]), at: at)
            case 3: bytes[at] = UInt8(truncatingIfNeeded: random.next())
            case 4: bytes += Array(pick(["}", " x", ",", "{}", "\u{00}", "9"]).utf8)
            default: bytes.insert(contentsOf: bytes[at...].prefix(8), at: at)
            }
            return bytes
        }
    }

    static func check(_ payload: Data, _ label: String) -> RPCParseOutcome {
        let daemon = RPCParseOutcome(payload, path: .daemon)
        let decoder = RPCParseOutcome(payload, path: .decoderOnly)
        #expect(daemon == decoder, "\(label)\n\(String(decoding: payload, as: UTF8.self))\nscanner first:\n  \(daemon)\nJSONDecoder alone:\n  \(decoder)")
        return daemon
    }

    @Test func theScannerAndTheDecoderAgreeOnRandomRequests() {
        var generator = RequestGenerator(seed: 0xADA9_7E2D)
        var scanned = 0
        var accepted = 0
        var longIDs = 0
        let count = 10_000
        for index in 0..<count {
            let text = generator.request()
            let outcome = Self.check(Data(text.utf8), "request \(index) of seed 0xADA97E2D")
            if outcome.scanned { scanned += 1 }
            if outcome.id != nil { accepted += 1 }
            if case .number(let id) = outcome.id, id.magnitude >= 100_000_000_000_000_000 { longIDs += 1 }
        }
        print("property: \(count) requests, \(scanned) read by the scanner, \(accepted) accepted, \(longIDs) with ids of 18+ digits")
        // The generator reaches both paths, and requests are accepted and refused.
        #expect(scanned > count / 10, "scanned \(scanned)")
        #expect(accepted > count / 5 && accepted < count * 9 / 10, "accepted \(accepted)")
        #expect(longIDs > 10, "ids of 18 or more digits \(longIDs)")
    }

    @Test func theScannerAndTheDecoderRefuseTheSameDamagedRequests() {
        var generator = RequestGenerator(seed: 0xBAD_F8A3E)
        var refused = 0
        let count = 10_000
        for index in 0..<count {
            let bytes = generator.damaged(generator.request())
            let outcome = Self.check(Data(bytes), "damaged request \(index) of seed 0xBADF8A3E")
            if outcome.params.isEmpty { refused += 1 }
        }
        print("property: \(count) damaged requests, \(refused) refused")
        #expect(refused > count / 4, "refused \(refused)")
    }

    /// The number forms one by one as the id and as every numeric params member.
    @Test func everyNumberFormIsReadAlike() {
        var generator = RequestGenerator(seed: 7)
        for _ in 0..<600 {
            let number = generator.number()
            for text in [#"{"jsonrpc":"2.0","id":\#(number),"method":"status"}"#,
                         #"{"jsonrpc":"2.0","id":\#(number),"method":"route","params":{"task":"a"}}"#,
                         #"{"jsonrpc":"2.0","id":1,"method":"budget.set","params":{"bytes":\#(number),"budget":\#(number),"top":\#(number),"cluster":\#(number)}}"#] {
                _ = Self.check(Data(text.utf8), "number \(number)")
            }
        }
    }
}
