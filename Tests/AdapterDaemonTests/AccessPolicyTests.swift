@testable import AdapterDaemon
import AdapterProtocol
import Foundation
import Logging
import Testing

@Suite("Access policy")
struct AccessPolicyTests {
    @Test func rootAndTheDaemonUserMayMutateOthersMayNot() throws {
        let policy = try AccessPolicy(daemonUID: 999, adminGroupName: nil)
        #expect(policy.mayMutate(PeerCredentials(pid: 1, uid: 0, gid: 0)))
        #expect(policy.mayMutate(PeerCredentials(pid: 1, uid: 999, gid: 5)))
        #expect(!policy.mayMutate(PeerCredentials(pid: 1, uid: 1234, gid: 1234)))
    }

    @Test func membersOfTheAdminGroupMayMutate() throws {
        // "nogroup" (or "nobody") exists on Debian; its gid is the primary group of "nobody".
        let name = AccessPolicy.groupID(named: "nogroup") != nil ? "nogroup" : "nobody"
        let gid = try #require(AccessPolicy.groupID(named: name))
        let policy = try AccessPolicy(daemonUID: 999, adminGroupName: name)
        #expect(policy.mayMutate(PeerCredentials(pid: 1, uid: 4321, gid: gid)))
        // uid 65534 (nobody) has this group as its primary group in the user database.
        #expect(policy.mayMutate(PeerCredentials(pid: 1, uid: 65534, gid: 12345)))
        #expect(!policy.mayMutate(PeerCredentials(pid: 1, uid: 4321, gid: 4321)))
    }

    @Test func aMissingAdminGroupIsAConfigurationError() {
        #expect(throws: ConfigurationError.self) {
            try AccessPolicy(daemonUID: 0, adminGroupName: "no-such-group-adapterd")
        }
    }

    /// Sends one request through the daemon's real method table as `peer`; the decoded response.
    static func call(_ table: MethodTable, _ method: String, _ params: String, peer: PeerCredentials, mayMutate: Bool)
        async throws -> [String: Any] {
        let payload = Data(#"{"jsonrpc":"2.0","id":1,"method":"\#(method)","params":\#(params)}"#.utf8)
        let response = try #require(await table.handle(payload: payload, peer: peer, mayMutate: mayMutate, send: { _ in },
                                                       logger: Logger(label: "test")))
        return try #require(try JSONSerialization.jsonObject(with: response) as? [String: Any])
    }

    @Test func onlyPeersThatMayMutateMayExportAServedAdaptersWeights() async throws {
        let fixture = try AdapterServiceTests.Fixture()
        _ = try await fixture.service.installer.install(try fixture.params("llama_gqa_f16", task: "a"), fixture.context)
        let table = fixture.service.methods()
        let reader = PeerCredentials(pid: 7, uid: 4242, gid: 4242)
        let cluster = try #require(try fixture.service.reads.route(RouteParams(task: "a")).adapter.cluster)

        for params in [#"{"task":"a"}"#, #"{"cluster":\#(cluster)}"#] {
            let refused = try await Self.call(table, "export", params, peer: reader, mayMutate: false)
            #expect(refused["result"] == nil, "a reader got the weights with \(params)")
            let error = try #require(refused["error"] as? [String: Any])
            #expect(error["code"] as? Int == RPCErrorCode.unauthorized.rawValue)
            #expect((error["message"] as? String)?.contains("hands out a served adapter's weights; uid 4242") == true, "\(error)")
            // The same peer allowed to mutate gets the files.
            let allowed = try await Self.call(table, "export", params, peer: reader, mayMutate: true)
            let result = try #require(allowed["result"] as? [String: Any], "\(allowed)")
            #expect((result["safetensors"] as? String)?.isEmpty == false)
        }
        // Readers keep route, list, status and show.
        for (method, params) in [("route", #"{"task":"a"}"#), ("list", "{}"), ("status", "{}"), ("show", #"{"task":"a"}"#)] {
            let answer = try await Self.call(table, method, params, peer: reader, mayMutate: false)
            #expect(answer["result"] != nil, "\(method) as a reader: \(answer)")
        }
    }
}
