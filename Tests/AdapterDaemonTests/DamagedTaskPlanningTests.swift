import AdapterCore
@testable import AdapterDaemon
import AdapterProtocol
import AdapterStore
import Foundation
import Testing

/// A task whose stored adapter is damaged is left out of the served set, flagged, and never served:
/// found by a plan that loads it (the plan is made again without it), or by `verify`.
@Suite("Damaged tasks and planning", .serialized)
struct DamagedTaskPlanningTests {
    typealias Fixture = AdapterServiceTests.Fixture

    static func flipBit(_ fixture: Fixture, _ digest: ContentDigest) throws {
        let path = fixture.store.url(for: digest).path
        chmod(path, 0o600)
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        data[data.count / 2] ^= 0x01
        try data.write(to: URL(fileURLWithPath: path))
    }

    /// With 2 compute threads the plan reads its adapters on two threads (`planning-threads`).
    @Test(arguments: [1, 2])
    func aReclusterThatLoadsADamagedAdapterLeavesItsTaskOutAndSaysSo(computeThreads: Int) async throws {
        let before = ComputeThreads.count
        ComputeThreads.set(computeThreads)
        defer { ComputeThreads.set(before) }
        let fixture = try Fixture(budgetOverride: .bytes(9_000))
        for (name, task) in [("llama_gqa_f16", "a"), ("llama_gqa_task_b", "b"), ("llama_gqa_task_c", "c")] {
            _ = try await fixture.service.installer.install(try fixture.params(name, task: task), fixture.context)
        }
        let a = try #require(try fixture.store.task(named: "a"))
        try Self.flipBit(fixture, a.adapter.weightsDigest)
        // What the last install's change releases in the background (the adapters it decoded, kept while
        // a plan is due), released now: the plan reads every adapter from the store.
        await fixture.service.replanner.releaseFreedMemory()

        let plan = try await fixture.service.replanner.recluster(ReclusterParams(), fixture.context)
        #expect(plan.tasks.map(\.task).sorted() == ["b", "c"])
        let status = try fixture.service.reads.status(fixture.context)
        let damaged = try #require(status.storage?.damagedObjects)
        #expect(damaged.map(\.sha256) == [a.adapter.weightsDigest.hex])
        #expect(damaged.first?.tasks == ["a"])
        let error = await AdapterServiceTests.rpcError { _ = try fixture.service.reads.route(RouteParams(task: "a")) }
        #expect(error?.code == .notFound)
        #expect(error?.message.contains("damaged") == true, "\(String(describing: error))")
        for task in ["b", "c"] { #expect(try fixture.service.reads.route(RouteParams(task: task)).generation == plan.generation) }
        #expect(try fixture.service.reads.list().tasks.map(\.task) == ["a", "b", "c"])

        // Installing it again repairs it and serves it.
        _ = try await fixture.service.installer.install(try fixture.params("llama_gqa_f16", task: "a"), fixture.context)
        #expect(try fixture.service.reads.route(RouteParams(task: "a")).version == 2)
        #expect(try fixture.service.reads.status(fixture.context).storage?.damagedObjects.isEmpty == true)
    }

    @Test func verifyFindsADamagedOwnAdapterAndTheServedSetDropsIt() async throws {
        let fixture = try Fixture()
        _ = try await fixture.service.installer.install(try fixture.params("llama_gqa_f16", task: "a"), fixture.context)
        _ = try await fixture.service.installer.install(try fixture.params("llama_gqa_task_b", task: "b"), fixture.context)
        let a = try #require(try fixture.store.task(named: "a"))
        try Self.flipBit(fixture, a.adapter.weightsDigest)
        // Served by reference, so nothing has read it yet: route still hands it out until it is found.
        let result = try await fixture.service.maintenance.verify(fixture.context)
        #expect(result.checkedObjects == 5)   // two adapters, two configs, one examples file (the same)
        #expect(result.damagedObjects.map(\.sha256) == [a.adapter.weightsDigest.hex])
        #expect(try fixture.service.reads.status(fixture.context).served?.tasks.map(\.task) == ["b"])
        #expect(await AdapterServiceTests.rpcError { _ = try fixture.service.reads.route(RouteParams(task: "a")) }?.code == .notFound)
        #expect(try fixture.service.reads.status(fixture.context).storage?.lastVerifiedAt != nil)
    }
}
