import AdapterCore
@_spi(Testing) @testable import AdapterProtocol
import Foundation
import Testing

/// An install's base64 adapter is written into the request as it is: the bytes must be JSONEncoder's,
/// and the daemon must read them back (by the scanner) as the same params.
@Suite("Verbatim string member")
struct VerbatimStringMemberTests {
    static func base64(bytes: Int, seed: UInt64) -> String {
        var random = SeededGenerator(seed: seed)
        return Data((0..<bytes).map { _ in UInt8(truncatingIfNeeded: random.next()) }).base64EncodedString()
    }

    static func params(safetensors: String) -> InstallParams {
        InstallParams(task: "summarize", config: #"{"r": 8, "target_modules": ["q_proj", "v_proj"], "path": "a/b"}"#,
                      safetensors: safetensors,
                      examples: "{\"text\": \"caf\u{E9} \\\"quoted\\\" \u{1F600}\", \"label\": \"x\"}\r\n{\"text\": \"tab\\there\"}\n")
    }

    @Test(arguments: [(70_000, UInt64(1)), (300_000, 2), (1_000_001, 3)])
    func aLargeInstallIsEncodedAsJSONEncoderEncodesIt(bytes: Int, seed: UInt64) throws {
        let params = Self.params(safetensors: Self.base64(bytes: bytes, seed: seed))
        for id in [RPCID.number(7), .string(#"r/"1\"#)] {
            let spliced = try #require(try VerbatimRequestEncoding.request(id: id, method: "install", params: params))
            let encoded = try JSONCoding.encoder.encode(RPCRequest(id: id, method: "install", params: params))
            #expect(spliced == encoded)
            #expect(try RPCEncoding.request(id: id, method: "install", params: params) == encoded)
        }
    }

    @Test func theDaemonReadsASplicedInstallWithoutTheFullDecoder() throws {
        let params = Self.params(safetensors: Self.base64(bytes: 200_000, seed: 9))
        let payload = try RPCEncoding.request(id: .number(3), method: "install", params: params)
        #expect(RPCRequestScanner.scan(payload) != nil)
        let request = try RPCInboundRequest.parse(payload)
        #expect(try request.params(as: InstallParams.self) == params)
        #expect(RPCParseOutcome(payload, path: .daemon) == RPCParseOutcome(payload, path: .decoderOnly))
    }

    /// A short value, or one that needs an escape, goes through JSONEncoder: same bytes either way.
    @Test func otherValuesAreLeftToJSONEncoder() throws {
        for value in ["aGk=", String(repeating: "a\"b", count: 30_000), String(repeating: "a\\b", count: 30_000),
                      String(repeating: "ab\n", count: 30_000), String(repeating: "\u{1F}", count: 70_000)] {
            let params = Self.params(safetensors: value)
            #expect(try VerbatimRequestEncoding.request(id: .number(1), method: "install", params: params) == nil,
                    "a value of \(value.utf8.count) bytes starting \(value.prefix(4).debugDescription)")
            #expect(try RPCEncoding.request(id: .number(1), method: "install", params: params)
                    == JSONCoding.encoder.encode(RPCRequest(id: .number(1), method: "install", params: params)))
        }
    }

    /// Text that needs no escape is not only base64: any UTF-8 without quotes, backslashes and control
    /// characters is written by JSONEncoder as it is, so splicing it gives the same bytes.
    @Test func nonASCIIWithoutEscapesIsSplicedToo() throws {
        let value = String(repeating: "é/😀 +=", count: 20_000)
        let params = Self.params(safetensors: value)
        let spliced = try #require(try VerbatimRequestEncoding.request(id: .number(1), method: "install", params: params))
        #expect(spliced == (try JSONCoding.encoder.encode(RPCRequest(id: .number(1), method: "install", params: params))))
    }
}
