@testable import AdapterDaemon
import AdapterProtocol
import Foundation
import Testing

/// `route`, `list` and `status` answered from the snapshot's encoded parts must be the bytes the typed
/// results encode to, and must follow every change of the snapshot.
@Suite("Encoded read answers", .serialized)
struct EncodedReadsTests {
    typealias Fixture = AdapterServiceTests.Fixture

    /// The typed results encoded the way every response is.
    static func typed<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try JSONCoding.encoder.encode(value), as: UTF8.self)
    }

    static func text(_ data: Data) -> String { String(decoding: data, as: UTF8.self) }

    /// `status` with the uptime of `encoded` (the one member that changes between two calls), so the
    /// typed and the encoded answers can be compared byte for byte.
    static func expectSameStatus(_ fixture: Fixture) async throws {
        // The text index counts tasks in the background after an install: let it settle first, so
        // both answers see the same count.
        await fixture.service.reads.textIndex.whenUpdated()
        // Twice (the second from the cached template), and for a second peer.
        let other = RequestContext(peer: PeerCredentials(pid: 77, uid: 4242, gid: 4243), mayMutate: false, requestID: .number(2)) { _ in }
        for context in [fixture.context, fixture.context, other] {
            let encoded = try fixture.service.reads.encodedStatus(context)
            let decoded = try JSONCoding.decoder.decode(StatusResult.self, from: encoded)
            var typed = try fixture.service.reads.statusWithTextRouting(context)
            typed.uptimeSeconds = decoded.uptimeSeconds
            #expect(text(encoded) == (try Self.typed(typed)))
        }
        #expect(fixture.service.reads.statusTemplate.withLockedValue { $0 } != nil)
    }

    static func expectSameAnswers(_ fixture: Fixture, tasks: [String]) async throws {
        for task in tasks {
            #expect(text(try fixture.service.reads.encodedRoute(RouteParams(task: task)))
                    == (try typed(try fixture.service.reads.route(RouteParams(task: task)))))
        }
        #expect(text(try fixture.service.reads.encodedList()) == (try typed(try fixture.service.reads.list())))
        try await expectSameStatus(fixture)
    }

    @Test func encodedAnswersAreTheTypedBytesAndFollowEveryChange() async throws {
        let fixture = try Fixture(budgetOverride: nil)
        // Before anything is installed: no routes, an empty list, no served set.
        try await Self.expectSameAnswers(fixture, tasks: [])
        #expect(Self.text(try fixture.service.reads.encodedList()).hasSuffix(#""tasks":[]}"#))

        _ = try await fixture.service.installer.install(try fixture.params("llama_gqa_f16", task: "a"), fixture.context)
        try await Self.expectSameAnswers(fixture, tasks: ["a"])
        let routeOfA = try fixture.service.reads.encodedRoute(RouteParams(task: "a"))

        // A second task: the list, the status and a's route (new generation) all change.
        _ = try await fixture.service.installer.install(try fixture.params("llama_gqa_task_b", task: "b"), fixture.context)
        try await Self.expectSameAnswers(fixture, tasks: ["a", "b"])
        #expect(try fixture.service.reads.encodedRoute(RouteParams(task: "a")) != routeOfA)
        let list = try JSONCoding.decoder.decode(ListResult.self, from: try fixture.service.reads.encodedList())
        #expect(list.tasks.map(\.task) == ["a", "b"])

        // A re-cluster under a small budget: merged adapters, new routes and served set.
        _ = try await fixture.service.installer.install(try fixture.params("llama_gqa_task_c", task: "c"), fixture.context)
        _ = try await fixture.service.replanner.recluster(ReclusterParams(budget: .bytes(20_000)), fixture.context)
        try await Self.expectSameAnswers(fixture, tasks: ["a", "b", "c"])
        let status = try JSONCoding.decoder.decode(StatusResult.self, from: try fixture.service.reads.encodedStatus(fixture.context))
        #expect(status.served?.kind == "clustered")
        #expect(status.budget.limit == .bytes(20_000))

        // `reclustering` is read per request, not frozen into the cached served set.
        fixture.service.reads.reclustering.withLockedValue { $0 = true }
        try await Self.expectSameStatus(fixture)
        #expect(try JSONCoding.decoder.decode(StatusResult.self, from: try fixture.service.reads.encodedStatus(fixture.context))
            .served?.reclustering == true)
        fixture.service.reads.reclustering.withLockedValue { $0 = false }

        // A removed task is no longer routed; the others still are, byte for byte.
        _ = try await fixture.service.installer.remove(TaskParams(task: "b"), fixture.context)
        try await Self.expectSameAnswers(fixture, tasks: ["a", "c"])
        #expect(await AdapterServiceTests.rpcError { _ = try fixture.service.reads.encodedRoute(RouteParams(task: "b")) }?.code == .notFound)
    }

    @Test func routeErrorsAreTheTypedOnes() async throws {
        let fixture = try Fixture()
        _ = try await fixture.service.installer.install(try fixture.params("llama_gqa_f16", task: "a"), fixture.context)
        #expect(await AdapterServiceTests.rpcError { _ = try fixture.service.reads.encodedRoute(RouteParams(task: "x")) }?.code == .notFound)
        #expect(await AdapterServiceTests.rpcError { _ = try fixture.service.reads.encodedRoute(RouteParams(task: "../x")) }?.code == .invalidParams)
        #expect(await AdapterServiceTests.rpcError { _ = try fixture.service.reads.encodedRoute(RouteParams(text: "hi")) }?.code == .invalidParams)
        #expect(await AdapterServiceTests.rpcError { _ = try fixture.service.reads.encodedRoute(RouteParams()) }?.code == .invalidParams)
    }

    @Test func theMethodTableAnswersWithTheEncodedBytesAroundTheRequestID() async throws {
        let fixture = try Fixture()
        _ = try await fixture.service.installer.install(try fixture.params("llama_gqa_f16", task: "a"), fixture.context)
        let table = fixture.service.methods()
        let logger = fixture.service.reads.logger
        for id in [#"7"#, #""r/\"1""#] {
            let request = #"{"jsonrpc":"2.0","id":\#(id),"method":"route","params":{"task":"a"}}"#
            let response = try #require(await table.handle(
                payload: Data(request.utf8), peer: fixture.context.peer, mayMutate: true, send: { _ in }, logger: logger))
            let requestID = try JSONCoding.decoder.decode(RPCID.self, from: Data(id.utf8))
            let expected = try JSONCoding.encoder.encode(
                RPCSuccess(id: requestID, result: try fixture.service.reads.route(RouteParams(task: "a"))))
            #expect(Self.text(response) == Self.text(expected))
        }
    }
}
