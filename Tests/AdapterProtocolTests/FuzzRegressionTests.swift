@_spi(Testing) @testable import AdapterProtocol
import Foundation
import Testing

/// Inputs FuzzProtocol found crashes with (docs/FUZZING.md, "When a target crashes"), embedded as
/// base64, read as the fuzz target reads them: every frame, the whole input and what follows the
/// length prefix, the daemon's way and by JSONDecoder alone.
@Suite("Protocol fuzz regressions")
struct FuzzRegressionTests {
    /// Every payload the fuzz target derives from an input (without the stream decoding).
    static func payloads(_ input: Data) -> [Data] {
        var payloads = [input]
        if input.count > Framing.headerSize { payloads.append(Data(input.dropFirst(Framing.headerSize))) }
        return payloads
    }

    /// The request scanner's overflow on a 38-digit id (issue 12), found from the seeds of before
    /// (without long ids) in 11,574 executions once the Swift code had coverage counters: the frame's
    /// length prefix no longer matches, the payload after it is `{"jsonrpc":"2.0","id":1234…789.set",…`.
    @Test func aThirtyEightDigitIDBeforeTheEndOfTheText() throws {
        let input = try #require(Data(base64Encoded: "AAAAR3sianNvbnJwYyI6IjIuMCIsImlkIjoxMjM0NTY3ODkwMTIzNDU2Nzg5MTIzNDU2Nzg5MDEyMzQ1Njc4OS5zZXQiLCJwYXJhbXMiOnsiYnl0ZXMuc2V0IiwicGFyYW1zIjp7ImJ5dGVzIjpudWxsfX0="))
        for payload in Self.payloads(input) {
            let daemon = RPCParseOutcome(payload, path: .daemon)
            #expect(daemon == RPCParseOutcome(payload, path: .decoderOnly))
            #expect(daemon.params.isEmpty, "not a request: \(daemon)")
            #expect(daemon.request.contains(#""code":-32700"#), "\(daemon)")
        }
        // The same id in a request that is otherwise well formed: refused as an id, the connection goes on.
        let wellFormed = Data(#"{"jsonrpc":"2.0","id":12345678901234567891234567890123456789,"method":"budget.set","params":{"bytes":null}}"#.utf8)
        let outcome = RPCParseOutcome(wellFormed, path: .daemon)
        #expect(outcome == RPCParseOutcome(wellFormed, path: .decoderOnly))
        #expect(outcome.request.contains(#""code":-32600"#) && outcome.request.contains(#""id":null"#), "\(outcome)")
    }
}
