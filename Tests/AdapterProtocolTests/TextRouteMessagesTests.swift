import AdapterProtocol
import Foundation
import Testing

/// route.text messages: wire form, defaults, validation, and the additive status field.
@Suite("route.text messages")
struct TextRouteMessagesTests {
    static let route = RouteResult(
        task: "banking", version: 2, generation: 7,
        adapter: ServedAdapter(id: String(repeating: "ab", count: 32), kind: "merged", tasks: ["banking", "travel"],
                               bytes: 1234, configPath: "/s/c.json", weightsPath: "/s/w.safetensors"))

    @Test func paramsDecodeFromARequestWithAndWithoutTop() throws {
        let request = try RPCInboundRequest.parse(Data(#"{"jsonrpc":"2.0","id":1,"method":"route.text","params":{"text":"block my card"}}"#.utf8))
        let params = try request.params(as: TextRouteParams.self)
        #expect(params.text == "block my card")
        #expect(params.top == nil)
        #expect(params.effectiveTop == 3)
        let withTop = try RPCInboundRequest.parse(Data(#"{"jsonrpc":"2.0","id":1,"method":"route.text","params":{"text":"x","top":7}}"#.utf8))
        #expect(try withTop.params(as: TextRouteParams.self).effectiveTop == 7)
        let wrongType = try RPCInboundRequest.parse(Data(#"{"jsonrpc":"2.0","id":1,"method":"route.text","params":{"text":3}}"#.utf8))
        #expect(throws: RPCError.self) { try wrongType.params(as: TextRouteParams.self) }
    }

    @Test func resultRoundTripsAndWritesNullForAnUnservedTask() throws {
        let result = TextRouteResult(embedder: "minilm", matches: [
            TextRouteMatch(task: "banking", similarity: 0.8125, route: Self.route),
            TextRouteMatch(task: "cooking", similarity: -0.25, route: nil),
        ])
        let data = try JSONEncoder().encode(result)
        #expect(try JSONDecoder().decode(TextRouteResult.self, from: data) == result)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["embedder"] as? String == "minilm")
        let matches = try #require(object["matches"] as? [[String: Any]])
        #expect(matches.count == 2)
        #expect(matches[1]["route"] is NSNull)
        #expect((matches[0]["route"] as? [String: Any])?["generation"] as? Int == 7)
        // A match without the member decodes too (route absent = not served).
        let bare = try JSONDecoder().decode(TextRouteMatch.self, from: Data(#"{"task":"t","similarity":0.5}"#.utf8))
        #expect(bare.route == nil)
    }

    @Test func validationSaysWhatIsWrong() {
        func message(_ params: TextRouteParams) -> String? {
            do {
                try params.validate()
                return nil
            } catch {
                #expect(error.code == .invalidParams)
                return error.message
            }
        }
        #expect(message(TextRouteParams(text: "fine", top: 50)) == nil)
        #expect(message(TextRouteParams(text: "fine")) == nil)
        #expect(message(TextRouteParams(text: String(repeating: "é", count: TextRouteParams.maxTextBytes / 2))) == nil)
        #expect(message(TextRouteParams(text: "")) == "\"text\" is empty; give the text to route")
        #expect(message(TextRouteParams(text: "\n  ")) == "\"text\" is empty; give the text to route")
        // Bytes, not characters: 8193 two-byte characters are over the 16384-byte limit.
        #expect(message(TextRouteParams(text: String(repeating: "é", count: TextRouteParams.maxTextBytes / 2 + 1)))
                == "\"text\" is 16386 bytes; route.text accepts at most 16384 bytes")
        #expect(message(TextRouteParams(text: "ok", top: 0)) == "\"top\" is 0; it must be between 1 and 50")
        #expect(message(TextRouteParams(text: "ok", top: 51)) == "\"top\" is 51; it must be between 1 and 50")
    }

    @Test func statusDecodesWithAndWithoutTextRouting() throws {
        var status = StatusResult(
            daemon: "adapterd", version: "0.1.0", protocolVersion: 1, pid: 5, uptimeSeconds: 1, socketActivated: false,
            tasks: 2, generation: 3, budget: BudgetStatus(limit: .unlimited, servedBytes: 10, archiveBytes: 20),
            quarantined: 0, detector: DetectorInfo(model: "m", threshold: 0.5),
            peer: PeerInfo(uid: 0, gid: 0, pid: 1, mayMutate: true))
        #expect(status.textRouting == nil)
        status.textRouting = TextRoutingInfo(embedder: "hashing", model: "hashing-2048", tasks: 2,
                                             fallbackReason: "no MiniLM model found")
        let data = try JSONEncoder().encode(status)
        #expect(try JSONDecoder().decode(StatusResult.self, from: data) == status)

        // A daemon from before route.text sends no textRouting: still decodes.
        var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect((object["textRouting"] as? [String: Any])?["embedder"] as? String == "hashing")
        object.removeValue(forKey: "textRouting")
        let old = try JSONDecoder().decode(StatusResult.self, from: try JSONSerialization.data(withJSONObject: object))
        #expect(old.textRouting == nil)
        #expect(old.tasks == 2)
    }

    @Test func theMethodIsReadOnlyAndListed() {
        #expect(Methods.RouteText.name == "route.text")
        #expect(!Methods.RouteText.mutates)
        #expect(Methods.all.filter { $0.name == "route.text" }.count == 1)
        #expect(TextEmbedderKind.allCases.map(\.rawValue) == ["auto", "hashing", "minilm"])
    }
}
