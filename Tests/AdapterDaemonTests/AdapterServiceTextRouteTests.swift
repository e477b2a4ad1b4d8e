@testable import AdapterDaemon
import AdapterCore
import AdapterProtocol
import AdapterStore
import Foundation
import Testing

/// `route.text` through the service: validation, matches with the same route objects `route` gives,
/// unserved tasks, and the method table entry.
@Suite("route.text", .serialized)
struct AdapterServiceTextRouteTests {
    typealias F = TextRouteFixtures

    @Test func matchesCarryTheRouteOfEachTask() async throws {
        let fixture = try AdapterServiceTests.Fixture()
        _ = try await F.install(fixture, task: "banking", texts: F.banking)
        _ = try await F.install(fixture, task: "cooking", texts: F.cooking, adapter: "llama_gqa_task_b")
        _ = try await F.install(fixture, task: "weather", texts: F.weather, adapter: "llama_gqa_task_c")

        let result = try await fixture.service.reads.routeText(TextRouteParams(text: "heavy rain and wind expected tonight"))
        #expect(result.embedder == "hashing")
        #expect(result.matches.count == 3)
        #expect(result.matches.first?.task == "weather")
        let similarities = result.matches.map(\.similarity)
        #expect(similarities == similarities.sorted(by: >))
        for match in result.matches {
            #expect(match.route == (try fixture.service.reads.route(RouteParams(task: match.task))))
        }
        let one = try await fixture.service.reads.routeText(TextRouteParams(text: "chop the onions", top: 1))
        #expect(one.matches.map(\.task) == ["cooking"])
    }

    @Test func aTaskTheGenerationDoesNotServeHasANullRoute() async throws {
        let fixture = try AdapterServiceTests.Fixture()
        _ = try await F.install(fixture, task: "banking", texts: F.banking)
        // Committed to the catalog without a generation (as after a crash before the switch).
        let params = try F.params("llama_gqa_task_b", task: "cooking", texts: F.cooking)
        let weights = try #require(Data(base64Encoded: params.safetensors))
        try fixture.store.installTask(
            name: "cooking", examples: Data(params.examples.utf8),
            adapter: AdapterSubmission(configJSON: Data(params.config.utf8), weights: weights, rank: 8, dtype: .f16,
                                       baseModel: "x", profileHash: "p", signature: Array(repeating: 0.5, count: 20),
                                       verdict: VerdictRecord(score: 0.1, threshold: 0.5, label: "benign")),
            installedBy: 0)
        fixture.service.reads.textIndex.refresh(task: "cooking")
        let result = try await fixture.service.reads.routeText(TextRouteParams(text: "whisk the eggs with flour", top: 2))
        try #require(result.matches.map(\.task) == ["cooking", "banking"])
        #expect(result.matches[0].route == nil)
        #expect(result.matches[1].route?.task == "banking")

        let json = String(decoding: try JSONEncoder().encode(result.matches[0]), as: UTF8.self)
        #expect(json.contains(#""route":null"#))
    }

    @Test func noTaskInstalledGivesNoMatches() async throws {
        let fixture = try AdapterServiceTests.Fixture()
        let result = try await fixture.service.reads.routeText(TextRouteParams(text: "hello"))
        #expect(result.matches.isEmpty)
        #expect(result.embedder == "hashing")
    }

    @Test(arguments: [
        (TextRouteParams(text: ""), "empty"),
        (TextRouteParams(text: " \n\t "), "empty"),
        (TextRouteParams(text: String(repeating: "a", count: TextRouteParams.maxTextBytes + 1)), "at most 16384 bytes"),
        (TextRouteParams(text: "ok", top: 0), "between 1 and 50"),
        (TextRouteParams(text: "ok", top: 51), "between 1 and 50"),
        (TextRouteParams(text: "ok", top: -3), "between 1 and 50"),
    ])
    func badParamsAreInvalidParamsErrors(params: TextRouteParams, message: String) async throws {
        let fixture = try AdapterServiceTests.Fixture()
        _ = try await F.install(fixture, task: "banking", texts: F.banking)
        await fixture.service.reads.textIndex.whenUpdated()
        let error = await AdapterServiceTests.rpcError { _ = try await fixture.service.reads.routeText(params) }
        #expect(error?.code == .invalidParams)
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "no error")")
    }

    @Test func theLimitsThemselvesAreAccepted() async throws {
        let fixture = try AdapterServiceTests.Fixture()
        _ = try await F.install(fixture, task: "banking", texts: F.banking)
        let long = String(repeating: "card ", count: TextRouteParams.maxTextBytes / 5)
        #expect(try await fixture.service.reads.routeText(TextRouteParams(text: long, top: 50)).matches.map(\.task) == ["banking"])
        #expect(try await fixture.service.reads.routeText(TextRouteParams(text: "x", top: 1)).matches.count == 1)
    }

    @Test func theMethodTableServesRouteTextToReadOnlyPeers() async throws {
        let fixture = try AdapterServiceTests.Fixture()
        _ = try await F.install(fixture, task: "banking", texts: F.banking)
        let table = fixture.service.methods()
        #expect(table.methodNames.contains("route.text"))
        #expect(Methods.all.contains { $0.name == "route.text" && !$0.mutates })
        let request = #"{"jsonrpc":"2.0","id":7,"method":"route.text","params":{"text":"block my card","top":1}}"#
        let reply = await table.handle(payload: Data(request.utf8), peer: PeerCredentials(pid: 1, uid: 4242, gid: 4242),
                                       mayMutate: false, send: { _ in }, logger: .init(label: "test"))
        let replyData = try #require(reply)
        let object = try #require(try JSONSerialization.jsonObject(with: replyData) as? [String: Any])
        let result = try #require(object["result"] as? [String: Any])
        let matches = try #require(result["matches"] as? [[String: Any]])
        #expect(matches.count == 1)
        #expect(matches.first?["task"] as? String == "banking")

        let missing = #"{"jsonrpc":"2.0","id":8,"method":"route.text","params":{"top":2}}"#
        let error = await table.handle(payload: Data(missing.utf8), peer: PeerCredentials(pid: 1, uid: 4242, gid: 4242),
                                       mayMutate: false, send: { _ in }, logger: .init(label: "test"))
        let errorData = try #require(error)
        let errorObject = try #require(try JSONSerialization.jsonObject(with: errorData) as? [String: Any])
        #expect(errorObject.errorCode == RPCErrorCode.invalidParams.rawValue)
    }
}
