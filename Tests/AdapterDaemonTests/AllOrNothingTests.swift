@testable import AdapterDaemon
import AdapterProtocol
import AdapterStore
import Foundation
import Testing

/// A change whose served set cannot be written changes nothing: `budget.set` keeps the budget in
/// force, `remove` keeps the task installed and served, and each says so in its error. Before every
/// change the space reserve is back in place.
@Suite("All or nothing", .serialized)
struct AllOrNothingTests {
    typealias Fixture = AdapterServiceTests.Fixture

    /// Makes every new generation fail to be written: `generations/` becomes a regular file.
    static func breakGenerations(_ fixture: Fixture) throws {
        let generations = fixture.store.stateDirectory.path + "/generations"
        try FileManager.default.moveItem(atPath: generations, toPath: generations + ".aside")
        try Data("not a directory".utf8).write(to: URL(fileURLWithPath: generations))
    }

    @Test func aBudgetWhosePlanCannotBeWrittenIsNotStored() async throws {
        let fixture = try Fixture(budgetOverride: nil)
        _ = try await fixture.service.installer.install(try fixture.params("llama_gqa_f16", task: "a"), fixture.context)
        _ = try await fixture.service.installer.install(try fixture.params("llama_gqa_task_c", task: "b"), fixture.context)
        let before = try fixture.service.replanner.budget.status()
        let served = before.servedBytes
        let generation = try fixture.store.currentGeneration()?.id
        try Self.breakGenerations(fixture)

        let error = await AdapterServiceTests.rpcError {
            _ = try await fixture.service.replanner.budgetSet(BudgetSetParams(budget: .bytes(served - 1)), fixture.context)
        }
        #expect(error != nil)
        #expect(error?.message.contains("budget") == true, "\(String(describing: error))")
        #expect(try fixture.store.storedBudget() == nil, "the budget of a change that failed was stored")
        #expect(try fixture.store.currentGeneration()?.id == generation)
        let status = try fixture.service.reads.status(fixture.context)
        #expect(status.budget.limit == before.limit)
        #expect(status.budget.servedBytes == served)
    }

    @Test func aRemoveWhoseReplanCannotBeWrittenIsUndone() async throws {
        let fixture = try Fixture()
        let installed = try await fixture.service.installer.install(try fixture.params("llama_gqa_f16", task: "a"), fixture.context)
        _ = try await fixture.service.installer.install(try fixture.params("llama_gqa_task_c", task: "b"), fixture.context)
        try Self.breakGenerations(fixture)

        let error = await AdapterServiceTests.rpcError {
            _ = try await fixture.service.installer.remove(TaskParams(task: "a"), fixture.context)
        }
        let message = try #require(error?.message, "remove answered success though its served set was not written")
        #expect(message.contains("nothing changed"), "\(message)")
        #expect(try fixture.store.task(named: "a")?.version == 1)
        let route = try fixture.service.reads.route(RouteParams(task: "a"))
        #expect(route.adapter.id == installed.sha256)
        #expect(try fixture.service.reads.list().tasks.map(\.task) == ["a", "b"])
    }

    @Test func theSpaceReserveIsBackBeforeTheNextChange() async throws {
        let fixture = try Fixture()
        _ = try await fixture.service.installer.install(try fixture.params("llama_gqa_f16", task: "a"), fixture.context)
        let reserve = fixture.store.stateDirectory.path + "/reserve"
        #expect(fixture.store.releaseSpaceReserve())
        #expect(!FileManager.default.fileExists(atPath: reserve))
        _ = try await fixture.service.replanner.recluster(ReclusterParams(), fixture.context)
        #expect(FileManager.default.fileExists(atPath: reserve))
    }
}
