@testable import AdapterDaemon
import AdapterProtocol
import AdapterStore
import Foundation
import Testing

@Suite("Served snapshot and install rollback", .serialized)
struct ServedSnapshotTests {
    typealias Fixture = AdapterServiceTests.Fixture

    @Test func readsAnswerFromMemoryWithoutTheCatalog() async throws {
        let fixture = try Fixture()
        let installed = try await fixture.service.installer.install(try fixture.params("llama_gqa_f16", task: "t"), fixture.context)
        let before = try fixture.service.reads.route(RouteParams(task: "t"))
        let listBefore = try fixture.service.reads.list()
        try fixture.store.close()
        // The catalog is closed: route, list and status still answer, from the snapshot.
        let route = try fixture.service.reads.route(RouteParams(task: "t"))
        #expect(route == before)
        #expect(route.adapter.id == installed.sha256)
        #expect(try fixture.service.reads.list() == listBefore)
        #expect(listBefore.tasks.first?.examples == 10)
        #expect(listBefore.tasks.first?.servedBy == installed.sha256)
        let status = try fixture.service.reads.status(fixture.context)
        #expect(status.tasks == 1)
        #expect(status.generation == installed.generation)
        #expect(status.served?.tasks.map(\.task) == ["t"])
        #expect(await AdapterServiceTests.rpcError { _ = try fixture.service.reads.route(RouteParams(task: "absent")) }?.code == .notFound)
    }

    /// Makes writing a generation fail: the generations directory becomes a file (root can still not
    /// create a directory inside a file). Returns a function that puts it back.
    static func breakGenerations(_ fixture: Fixture) throws -> () throws -> Void {
        let generations = fixture.directory.path + "/state/generations"
        let saved = fixture.directory.path + "/state/generations.saved"
        try FileManager.default.moveItem(atPath: generations, toPath: saved)
        #expect(FileManager.default.createFile(atPath: generations, contents: Data("not a directory".utf8)))
        return {
            try FileManager.default.removeItem(atPath: generations)
            try FileManager.default.moveItem(atPath: saved, toPath: generations)
        }
    }

    @Test func aReinstallWhoseGenerationCannotBeWrittenChangesNothing() async throws {
        let fixture = try Fixture()
        let first = try await fixture.service.installer.install(try fixture.params("llama_gqa_f16", task: "t"), fixture.context)
        let repair = try Self.breakGenerations(fixture)
        let error = try #require(await AdapterServiceTests.rpcError {
            _ = try await fixture.service.installer.install(try fixture.params("llama_gqa_task_b", task: "t"), fixture.context)
        })
        #expect(error.message.contains("nothing changed: 't' is still version 1"))
        // The catalog is back at version 1, which the current generation serves.
        let task = try #require(try fixture.store.task(named: "t"))
        #expect(task.version == 1)
        #expect(task.adapter.weightsDigest.hex == first.sha256)
        #expect(try fixture.store.route(task: "t")?.taskVersion == 1)
        let route = try fixture.service.reads.route(RouteParams(task: "t"))
        #expect(route.version == 1)
        #expect(route.adapter.id == first.sha256)
        #expect(try fixture.service.reads.list().tasks.map(\.version) == [1])

        try repair()
        let second = try await fixture.service.installer.install(try fixture.params("llama_gqa_task_b", task: "t"), fixture.context)
        #expect(second.version == 2)
        #expect(second.replacedVersion == 1)
        #expect(try fixture.service.reads.route(RouteParams(task: "t")).adapter.id == second.sha256)
    }

    @Test func aNewTaskWhoseGenerationCannotBeWrittenIsNotInstalled() async throws {
        let fixture = try Fixture()
        _ = try await fixture.service.installer.install(try fixture.params("llama_gqa_f16", task: "a"), fixture.context)
        let repair = try Self.breakGenerations(fixture)
        let error = try #require(await AdapterServiceTests.rpcError {
            _ = try await fixture.service.installer.install(try fixture.params("llama_gqa_task_b", task: "b"), fixture.context)
        })
        #expect(error.message.contains("nothing changed: 'b' is not installed"))
        #expect(try fixture.store.task(named: "b") == nil)
        #expect(try fixture.service.reads.list().tasks.map(\.task) == ["a"])
        #expect(await AdapterServiceTests.rpcError { _ = try fixture.service.reads.route(RouteParams(task: "b")) }?.message
            == "no task named 'b' is installed")
        #expect(try fixture.service.reads.route(RouteParams(task: "a")).version == 1)
        try repair()
        #expect(try fixture.service.reads.status(fixture.context).tasks == 1)
    }
}
