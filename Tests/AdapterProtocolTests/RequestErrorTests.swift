@testable import AdapterProtocol
import AdapterCore
import Foundation
import Testing

/// The errors a peer gets for a frame that is not UTF-8, and for params JSONDecoder can read but not
/// convert: the code docs/PROTOCOL.md gives, and a message naming the member.
@Suite("Request errors")
struct RequestErrorTests {
    static func failure(_ bytes: [UInt8]) -> RPCFailure? {
        do {
            _ = try RPCInboundRequest.parse(Data(bytes))
            return nil
        } catch {
            return error
        }
    }

    static func paramsError<P: Decodable>(_ text: String, as type: P.Type) throws -> RPCError? {
        let request = try RPCInboundRequest.parse(Data(text.utf8))
        do {
            _ = try request.params(as: type)
            return nil
        } catch {
            return error
        }
    }

    /// Invalid UTF-8 anywhere, also in a member nobody reads (JSONDecoder did not look there).
    @Test(arguments: [
        [0xFF],                    // never in UTF-8
        [0xC3],                    // a lead byte at the end of a string
        [0xC0, 0xAF],              // overlong "/"
        [0xED, 0xA0, 0x80],        // an encoded surrogate (U+D800)
        [0xF4, 0x90, 0x80, 0x80],  // above U+10FFFF
        [0xE2, 0x82],              // a truncated three-byte sequence
        [0x80],                    // a lone continuation byte
    ] as [[UInt8]])
    func aFrameThatIsNotUTF8IsAParseError(bad: [UInt8]) throws {
        let frames: [[UInt8]] = [
            Array(#"{"jsonrpc":"2.0","id":1,"method":"st"#.utf8) + bad + Array(#"atus"}"#.utf8),
            Array(#"{"jsonrpc":"2.0","id":1,"method":"status","params":{"note":""#.utf8) + bad + Array(#""}}"#.utf8),
            Array(#"{"jsonrpc":"2.0","id":1,"method":"route","params":{"task":"a"#.utf8) + bad + Array(#""}}"#.utf8),
            Array(#"{"jsonrpc":"2.0","id":1,"method":"status","x":""#.utf8) + bad + Array(#""}"#.utf8),
        ]
        for frame in frames {
            let failure = try #require(Self.failure(frame), "accepted: \(frame)")
            #expect(failure.error.code == .parseError)
            #expect(failure.id == nil)
            #expect(failure.error.message.contains("not valid UTF-8"))
        }
    }

    @Test func textThatIsNotJSONIsAParseError() throws {
        let failure = try #require(Self.failure(Array(#"{"jsonrpc":"2.0","id":1,"method":"status""#.utf8)))
        #expect(failure.error.code == .parseError)
        #expect(failure.error.message == "the frame is not valid JSON")
    }

    /// A JSON string the envelope cannot read is an invalid request naming the member, not a parse error.
    @Test func anUnreadableMethodIsAnInvalidRequestNamingIt() throws {
        let failure = try #require(Self.failure(Array(#"{"jsonrpc":"2.0","id":1,"method":"\ud800"}"#.utf8)))
        #expect(failure.error.code == .invalidRequest)
        #expect(failure.error.message.contains(#""method""#))
    }

    /// Numbers JSONDecoder cannot convert (out of range, fractions for integers): named, with the range.
    @Test(arguments: ["1e30", "99999999999999999999", "-99999999999999999999", "1.5", "1e400",
                      String(repeating: "9", count: 400)])
    func numbersOutOfRangeNameTheMember(number: String) throws {
        let budget = try #require(try Self.paramsError(
            #"{"jsonrpc":"2.0","id":1,"method":"budget.set","params":{"bytes":\#(number)}}"#, as: BudgetSetParams.self))
        #expect(budget.code == .invalidParams)
        #expect(budget.message.contains(#""params.bytes" must be an integer from -9223372036854775808 to 9223372036854775807"#),
                "\(budget.message)")
        #expect(!budget.message.contains("not valid JSON"))

        let recluster = try #require(try Self.paramsError(
            #"{"jsonrpc":"2.0","id":1,"method":"recluster","params":{"dryRun":true,"budget":\#(number)}}"#, as: ReclusterParams.self))
        #expect(recluster.message.contains(#""params.budget" must be an integer"#), "\(recluster.message)")

        let top = try #require(try Self.paramsError(
            #"{"jsonrpc":"2.0","id":1,"method":"route.text","params":{"text":"hello","top":\#(number)}}"#, as: TextRouteParams.self))
        #expect(top.message.contains(#""params.top" must be an integer"#), "\(top.message)")

        let export = try #require(try Self.paramsError(
            #"{"jsonrpc":"2.0","id":1,"method":"export","params":{"cluster":\#(number)}}"#, as: ExportParams.self))
        #expect(export.message.contains(#""params.cluster" must be an integer"#), "\(export.message)")
    }

    /// Integers of any length that fit are read exactly, whatever their form.
    @Test(arguments: [("9223372036854775807", Int64.max), ("-9223372036854775808", Int64.min), ("-0", 0),
                      ("1e3", 1000), ("0", 0)])
    func integersThatFitAreRead(number: String, value: Int64) throws {
        let request = try RPCInboundRequest.parse(Data(#"{"jsonrpc":"2.0","id":1,"method":"budget.set","params":{"bytes":\#(number)}}"#.utf8))
        #expect(try request.params(as: BudgetSetParams.self).budget == .bytes(value))
    }

    @Test(arguments: [#""\ud800""#, #""a\udc00b""#, #""\x""#])
    func unreadableStringsNameTheMember(string: String) throws {
        let route = try #require(try Self.paramsError(
            #"{"jsonrpc":"2.0","id":1,"method":"route","params":{"task":\#(string)}}"#, as: RouteParams.self))
        #expect(route.code == .invalidParams)
        #expect(route.message.hasPrefix(#"invalid params for route: "params.task" must be a JSON string with valid escapes"#),
                "\(route.message)")
        let install = try #require(try Self.paramsError(
            #"{"jsonrpc":"2.0","id":1,"method":"install","params":{"task":"t","config":"{}","safetensors":"","examples":[\#(string)]}}"#,
            as: InstallParams.self))
        // Not a string at all: the type mismatch JSONDecoder names itself.
        #expect(install.message.contains(#""params.examples""#), "\(install.message)")
    }

    @Test func nestedValuesAreNamedWithTheirPath() {
        struct Inner: Decodable { var counts: [Int32] }
        struct Outer: Decodable { var inner: Inner }
        let data = Data(#"{"inner":{"counts":[1,2,3000000000]}}"#.utf8)
        let located = DecodingErrorLocator.locate(Outer.self, in: data)
        #expect(located.map { RPCInboundRequest.describe($0) } == #""inner.counts[2]" must be an integer from -2147483648 to 2147483647"#)
    }

    @Test func aMissingBudgetMemberIsNamedWithItsPath() throws {
        let error = try #require(try Self.paramsError(#"{"jsonrpc":"2.0","id":1,"method":"budget.set","params":{}}"#, as: BudgetSetParams.self))
        #expect(error.message.contains(#"missing member "params.bytes""#), "\(error.message)")
    }
}

/// The UTF-8 check agrees with the standard library's on random bytes and on every edge of the
/// encoding's table.
@Suite("UTF-8 validation")
struct UTF8ValidationTests {
    @Test func agreesWithTheStandardLibrary() {
        var generator = SeededGenerator(seed: 0x5EED_0F_07F8)
        var invalid = 0
        for round in 0..<20_000 {
            let length = Int(generator.next() % 24)
            // Mostly ASCII with some high bytes, or entirely random.
            let bytes: [UInt8] = (0..<length).map { _ in
                let r = generator.next()
                return round % 2 == 0 && r % 4 != 0 ? UInt8(r >> 8 & 0x7F) : UInt8(truncatingIfNeeded: r >> 16)
            }
            let valid = String(validating: bytes, as: UTF8.self) != nil
            let offset = bytes.withUnsafeBytes { UTF8Validation.firstInvalidOffset(in: $0) }
            #expect((offset == nil) == valid, "\(bytes)")
            if let offset {
                invalid += 1
                #expect(String(validating: bytes[..<offset], as: UTF8.self) != nil, "prefix of \(bytes)")
            }
        }
        #expect(invalid > 1000)
    }

    @Test func acceptsEveryScalarAndRefusesSurrogatesAndOverlongs() {
        for value in stride(from: 0, through: 0x10FFFF, by: 7) {
            guard let scalar = Unicode.Scalar(UInt32(value)) else { continue }
            let bytes = Array(String(Character(scalar)).utf8)
            #expect(bytes.withUnsafeBytes { UTF8Validation.firstInvalidOffset(in: $0) } == nil)
        }
        for bad: [UInt8] in [[0xED, 0xBF, 0xBF], [0xE0, 0x9F, 0xBF], [0xF0, 0x8F, 0xBF, 0xBF], [0xC1, 0xBF], [0xF5, 0x80, 0x80, 0x80]] {
            #expect(bad.withUnsafeBytes { UTF8Validation.firstInvalidOffset(in: $0) } == 0)
        }
        let long = Array(repeating: UInt8(ascii: "a"), count: 21) + [0xFF] + Array(repeating: UInt8(ascii: "b"), count: 9)
        #expect(long.withUnsafeBytes { UTF8Validation.firstInvalidOffset(in: $0) } == 21)
    }
}
