import AdapterProtocol
import Foundation
import Testing

@Suite("served-set messages")
struct ServedSetTypesTests {
    static let plan = PlanResult(
        dryRun: false, generation: 7, kind: "clustered", clusterCount: 2,
        clusters: [
            PlanCluster(index: 0, id: 21, kind: "merged", tasks: ["a", "b"], rank: 8, bytes: 17_600, sha256: "ab12", baseModel: "m"),
            PlanCluster(index: 1, id: 22, kind: "own", tasks: ["c"], rank: 4, bytes: 9_000, sha256: "cd34", baseModel: "m"),
        ],
        tasks: [PlanTask(task: "a", version: 1, cluster: 0, retainedQuality: 0.8),
                PlanTask(task: "b", version: 3, cluster: 0, retainedQuality: 0.6),
                PlanTask(task: "c", version: 1, cluster: 1, retainedQuality: 1)],
        totalBytes: 26_600, budget: .bytes(30_000), ownTotalBytes: 44_000, dtype: "F16", evaluator: "weight-space",
        evaluatorNote: "external:x failed", merger: "svd", meanRetainedQuality: 0.8, worstRetainedQuality: 0.6,
        worstTask: "b", rounds: 2, evaluations: 12, seconds: 0.25, plannedAt: "2026-11-26T23:00:00Z")

    private func roundTrip<T: Codable & Equatable>(_ value: T) throws -> T {
        let data = try JSONEncoder().encode(value)
        return try JSONDecoder().decode(T.self, from: data)
    }

    @Test func planStatusExportAndRouteRoundTrip() throws {
        #expect(try roundTrip(Self.plan) == Self.plan)
        let served = ServedSetInfo(
            generation: 7, kind: "clustered", clusters: Self.plan.clusters, tasks: Self.plan.tasks,
            meanRetainedQuality: 0.8, worstRetainedQuality: 0.6, worstTask: "b", evaluator: "weight-space",
            evaluatorNote: nil, lastReclusterAt: "2026-11-26T23:00:00Z", reclustering: true)
        #expect(try roundTrip(served) == served)
        let export = ExportResult(cluster: 21, generation: 7, kind: "merged", tasks: ["a", "b"], sha256: "ab12", scale: 1,
                                  config: "{}", safetensors: "AAEC")
        #expect(try roundTrip(export) == export)
        let route = RouteResult(
            task: "a", version: 1, generation: 7,
            adapter: ServedAdapter(id: "ab12", kind: "merged", tasks: ["a", "b"], bytes: 17_600, configPath: "/c",
                                   weightsPath: "/w", cluster: 21, directory: "/d", sha256: "ab12", rank: 8, scale: 1),
            retainedQuality: 0.8, evaluator: "weight-space")
        #expect(try roundTrip(route) == route)
    }

    @Test func newRouteFieldsAreOptionalForOlderPeers() throws {
        let old = #"{"task":"a","version":1,"generation":2,"adapter":{"id":"x","kind":"own","tasks":["a"],"bytes":5}}"#
        let route = try JSONDecoder().decode(RouteResult.self, from: Data(old.utf8))
        #expect(route.retainedQuality == nil)
        #expect(route.adapter.cluster == nil)
    }

    @Test func reclusterParamsDefaultToTheBudgetInForceAndARealRun() throws {
        let request = try RPCInboundRequest.parse(Data(#"{"jsonrpc":"2.0","id":1,"method":"recluster"}"#.utf8))
        let params = try request.params(as: ReclusterParams.self)
        #expect(params.budget == nil)
        #expect(!params.dryRun)
        let explicit = try JSONDecoder().decode(ReclusterParams.self, from: Data(#"{"budget":null,"dryRun":true}"#.utf8))
        #expect(explicit.budget == nil && explicit.dryRun)
        let sized = try JSONDecoder().decode(ReclusterParams.self, from: Data(#"{"budget":1048576}"#.utf8))
        #expect(sized.budget == .bytes(1_048_576))
        #expect(throws: DecodingError.self) {
            _ = try JSONDecoder().decode(ReclusterParams.self, from: Data(#"{"budget":"big"}"#.utf8))
        }
    }

    @Test func methodsListIncludesReclusterAsMutatingAndExportAsReadOnly() {
        let methods = Dictionary(uniqueKeysWithValues: Methods.all.map { ($0.name, $0.mutates) })
        #expect(methods["recluster"] == true)
        #expect(methods["export"] == false)
    }
}
