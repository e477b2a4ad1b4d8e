@_spi(Testing) @testable import AdapterProtocol
import Foundation
import Testing

/// The request scanner is a shortcut: for every input, parsing must come out as with JSONDecoder alone.
@Suite("Request scanner")
struct RPCRequestScannerTests {
    /// The scanner's outcome (the daemon's path) and JSONDecoder's alone agree.
    static func agree(_ text: String) -> Bool {
        RPCParseOutcome(Data(text.utf8), path: .daemon) == RPCParseOutcome(Data(text.utf8), path: .decoderOnly)
    }

    /// Shapes the scanner reads itself.
    static let common = [
        #"{"jsonrpc":"2.0","id":1,"method":"route","params":{"task":"summarize"}}"#,
        #"{"jsonrpc":"2.0","id":"r1","method":"status"}"#,
        #" { "method" : "list" , "id" : -42 , "jsonrpc" : "2.0" , "params" : { } } "#,
        #"{"jsonrpc":"2.0","method":"route","params":{"text":"a b c","task":"t"}}"#,
        #"{"jsonrpc":"2.0","id":123456789012345678,"method":"route","params":{}}"#,
        #"{"jsonrpc":"1.0","id":1,"method":"status"}"#,
        #"{"jsonrpc":"2.0","id":1,"method":""}"#,
        #"{"jsonrpc":"2.0","id":0,"method":"status","params":{"unknown":"x"}}"#,
        // Escapes and UTF-8, as an install's config and examples carry them.
        #"{"jsonrpc":"2.0","id":1,"method":"route","params":{"task":"sum\u006darize"}}"#,
        #"{"jsonrpc":"2.0","id":1,"method":"route","params":{"task":"é"}}"#,
        #"{"jsonrpc":"2.0","id":1,"method":"route","params":{"text":"a\"b\\c\/d\b\f\n\r\t \ud83d\ude00 😀 \u00e9\u0000"}}"#,
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"route\",\"params\":{\"text\":\"del \u{7F} ls \u{2028}\"}}",
        #"{"jsonrpc":"2.0","id":2,"method":"install","params":{"task":"t","config":"{\"r\": 8}","safetensors":"aGk=","examples":"{\"text\":\"a\"}\n"}}"#,
        #"{"jsonrpc":"2.0","id":3,"method":"install","params":{"task":"t","config":"{}","safetensors":"aGk=","examples":"","extra":"x"}}"#,
        // A labels string: read by the scanner, refused by the decoder (labels is an array) as without it.
        #"{"jsonrpc":"2.0","id":2,"method":"install","params":{"task":"t","config":"{}","safetensors":"aGk=","examples":"","labels":"a"}}"#,
    ]

    /// Shapes it leaves to JSONDecoder.
    static let other = [
        // A lone surrogate, an unknown or short escape, a raw control character.
        #"{"jsonrpc":"2.0","id":1,"method":"route","params":{"task":"\ud800"}}"#,
        #"{"jsonrpc":"2.0","id":1,"method":"route","params":{"task":"\udc00x"}}"#,
        #"{"jsonrpc":"2.0","id":1,"method":"route","params":{"task":"\ud83dx"}}"#,
        #"{"jsonrpc":"2.0","id":1,"method":"route","params":{"task":"\ud83d\u0041"}}"#,
        #"{"jsonrpc":"2.0","id":1,"method":"route","params":{"task":"\x"}}"#,
        #"{"jsonrpc":"2.0","id":1,"method":"route","params":{"task":"\u12"}}"#,
        #"{"jsonrpc":"2.0","id":1,"method":"route","params":{"task":"\u12g4"}}"#,
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"route\",\"params\":{\"task\":\"a\u{01}\"}}",
        // install with labels: an array, left to the decoder.
        #"{"jsonrpc":"2.0","id":2,"method":"install","params":{"task":"t","config":"{}","safetensors":"aGk=","examples":"","labels":["a"]}}"#,
        #"{"jsonrpc":"2.0","id":1.0,"method":"status"}"#,
        #"{"jsonrpc":"2.0","id":1e2,"method":"status"}"#,
        #"{"jsonrpc":"2.0","id":01,"method":"status"}"#,
        #"{"jsonrpc":"2.0","id":1234567890123456789,"method":"status"}"#,
        // Ids beyond 18 digits, in and out of Int64's range (a 19th digit used to overflow the scanner).
        #"{"jsonrpc":"2.0","id":9223372036854775807,"method":"status"}"#,
        #"{"jsonrpc":"2.0","id":-9223372036854775808,"method":"status"}"#,
        #"{"jsonrpc":"2.0","id":9223372036854775808,"method":"status"}"#,
        #"{"jsonrpc":"2.0","id":9999999999999999999,"method":"route","params":{"task":"a"}}"#,
        #"{"jsonrpc":"2.0","id":-9999999999999999999,"method":"status"}"#,
        #"{"jsonrpc":"2.0","id":1234567890123456789012345,"method":"status"}"#,
        #"{"jsonrpc":"2.0","id":\#(String(repeating: "9", count: 400)),"method":"status"}"#,
        #"{"jsonrpc":"2.0","id":-\#(String(repeating: "1", count: 400)),"method":"status"}"#,
        #"{"jsonrpc":"2.0","id":null,"method":"status"}"#,
        #"{"jsonrpc":"2.0","id":[1],"method":"status"}"#,
        #"{"jsonrpc":"2.0","id":1,"method":"status","id":2}"#,
        #"{"jsonrpc":"2.0","id":1,"method":"status","extra":true}"#,
        #"{"jsonrpc":"2.0","id":1,"method":"route","params":{"task":5}}"#,
        #"{"jsonrpc":"2.0","id":1,"method":"route","params":{"task":"a","task":"b"}}"#,
        #"{"jsonrpc":"2.0","id":1,"method":"route","params":{"task":{"x":"y"}}}"#,
        #"{"jsonrpc":"2.0","id":1,"method":"route","params":["a"]}"#,
        #"{"jsonrpc":"2.0","id":1,"method":"status"} x"#,
        #"{"jsonrpc":"2.0","id":1,"method":"status",}"#,
        #"{"jsonrpc":"2.0","id":1,"method":"status""#,
        #"{"jsonrpc":"2.0","id":1,"method":7}"#,
        #"{"id":1,"method":"status"}"#,
        #"{}"#, "", "[1,2]", "42", "{not json", "\u{FF}\u{FE}",
    ]

    @Test(arguments: common)
    func readsTheCommonShapesItselfWithTheDecodersOutcome(text: String) {
        #expect(RPCRequestScanner.scan(Data(text.utf8)) != nil)
        #expect(Self.agree(text))
    }

    @Test(arguments: other)
    func leavesEverythingElseToTheDecoder(text: String) {
        #expect(RPCRequestScanner.scan(Data(text.utf8)) == nil)
        #expect(Self.agree(text))
    }

    /// The id a peer may give: one that fits Int64 is kept, a longer number is refused as the full
    /// decoder refuses it (`invalid request`, id null), whichever path read the frame.
    @Test(arguments: [("123456789012345678", RPCID.number(123_456_789_012_345_678)),
                      ("9223372036854775807", .number(.max)), ("-9223372036854775808", .number(.min)),
                      ("9223372036854775808", nil), ("99999999999999999999", nil),
                      (String(repeating: "9", count: 25), nil), (String(repeating: "7", count: 400), nil)])
    func longIDsAreKeptWhenTheyFitAndRefusedOtherwise(id: String, expected: RPCID?) throws {
        let payload = Data(#"{"jsonrpc":"2.0","id":\#(id),"method":"status"}"#.utf8)
        if let expected {
            #expect(try RPCInboundRequest.parse(payload).id == expected)
        } else {
            #expect {
                try RPCInboundRequest.parse(payload)
            } throws: { error in
                guard let failure = error as? RPCFailure else { return false }
                return failure.id == nil && failure.error.code == .invalidRequest
                    && failure.error.message.contains("\"id\"")
            }
        }
    }

    @Test func aRequestWithoutIDIsANotification() throws {
        let request = try RPCInboundRequest.parse(Data(#"{"jsonrpc":"2.0","method":"status"}"#.utf8))
        #expect(request.id == nil)
        #expect(!request.hasParams)
    }

    @Test(arguments: [RPCID.number(7), .number(-1), .string("r1"), .string(#"a/"b\c"#)])
    func anEncodedResultIsWrappedLikeATypedOne(id: RPCID) throws {
        let result = RouteParams(task: "x/y")
        let typed = try RPCEncoding.success(id: id, result: result)
        let wrapped = try RPCEncoding.success(id: id, encodedResult: try JSONCoding.encoder.encode(result))
        #expect(String(decoding: wrapped, as: UTF8.self) == String(decoding: typed, as: UTF8.self))
    }
}
