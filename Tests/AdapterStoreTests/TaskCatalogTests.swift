import AdapterCore
import Foundation
import Testing
@testable import AdapterStore

@Suite("Tasks: install, versions, replace, remove")
struct TaskCatalogTests {
    @Test("install records the task, its adapter and its examples")
    func install() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        let submission = Sample.adapter(seed: 3, rank: 16)
        let examples = Sample.examples("sentiment")
        let before = Date()
        let installed = try store.installTask(name: "sentiment", examples: examples, adapter: submission, installedBy: 1001)
        #expect(installed.name == "sentiment")
        #expect(installed.version == 1)
        #expect(installed.examplesDigest == ContentDigest.of(examples))
        #expect(installed.examplesBytes == examples.count)
        let adapter = installed.adapter
        #expect(adapter.task == "sentiment" && adapter.version == 1)
        #expect(adapter.configDigest == ContentDigest.of(submission.configJSON))
        #expect(adapter.weightsDigest == ContentDigest.of(submission.weights))
        #expect(adapter.bytes == submission.configJSON.count + submission.weights.count)
        #expect(adapter.rank == 16 && adapter.dtype == .f16 && adapter.baseModel == "tiny-llama")
        #expect(adapter.profileHash == "profile-1")
        #expect(adapter.signature == submission.signature)
        #expect(adapter.verdict == submission.verdict)
        #expect(adapter.installedBy == 1001)
        #expect(adapter.installedAt >= before.addingTimeInterval(-1))

        #expect(try store.task(named: "sentiment") == installed)
        #expect(try store.tasks() == [installed])
        #expect(try store.examples(of: installed) == examples)
        #expect(try store.read(adapter.weightsDigest) == submission.weights)
        #expect(try store.read(adapter.configDigest) == submission.configJSON)
        #expect(try store.task(named: "other") == nil)
        #expect(try store.archiveBytes() == examples.count + adapter.bytes)
        #expect(try store.servedBytes() == 0)
    }

    @Test("weights given with their digest are stored under it; a digest that is not theirs is refused")
    func knownWeightsDigest() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        var submission = Sample.adapter(seed: 3)
        submission.weightsDigest = ContentDigest.of(submission.weights)
        let task = try store.installTask(name: "known", examples: Sample.examples("known"), adapter: submission, installedBy: 7)
        #expect(task.adapter.weightsDigest == ContentDigest.of(submission.weights))
        #expect(try store.read(task.adapter.weightsDigest) == submission.weights)

        // Another adapter's digest: not written (read back against the name), nothing recorded.
        var wrong = Sample.adapter(seed: 4)
        wrong.weightsDigest = ContentDigest.of(Sample.adapter(seed: 5).weights)
        #expect { try store.installTask(name: "wrong", examples: Sample.examples("wrong"), adapter: wrong, installedBy: 7) }
            throws: { ($0 as? StoreError)?.code == .digestMismatch }
        // The digest of an object present, of the same size: not taken for it either.
        var present = Sample.adapter(seed: 6)
        present.weightsDigest = task.adapter.weightsDigest
        #expect { try store.installTask(name: "present", examples: Sample.examples("present"), adapter: present, installedBy: 7) }
            throws: { ($0 as? StoreError)?.code == .digestMismatch }
        #expect(try store.tasks().map(\.name) == ["known"])
        #expect(try store.read(task.adapter.weightsDigest) == submission.weights)
    }

    @Test("an install survives reopening, with all fields intact")
    func durable() throws {
        let temp = try TemporaryDirectory()
        let installed: InstalledTask
        do {
            let store = try AdapterStore.open(stateDirectory: temp.state)
            installed = try Sample.install(store, "qa", seed: 5)
            try store.close()
        }
        let store = try AdapterStore.open(stateDirectory: temp.state)
        #expect(try store.task(named: "qa") == installed)
        #expect(try store.integrityCheck().isHealthy)
    }

    @Test("re-installing makes a new version; the old adapter record and files go")
    func reinstall() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        let first = try Sample.install(store, "qa", seed: 1)
        let second = try Sample.install(store, "qa", seed: 2)
        #expect(second.version == 2)
        #expect(second.adapter.version == 2)
        #expect(second.adapter.id != first.adapter.id)
        #expect(second.createdAt == first.createdAt, "created_at is the first install's time")
        #expect(try store.tasks() == [second])
        let adapterRows = try store.pool.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM adapters") }
        #expect(adapterRows == 1)

        let report = try store.collectGarbage()
        #expect(report.removedObjects == 3, "old examples, config and weights")
        #expect(throws: StoreError.self) { try store.read(first.adapter.weightsDigest) }
        #expect(try store.read(second.adapter.weightsDigest) == Sample.adapter(seed: 2).weights)
        #expect(try store.integrityCheck().isHealthy)

        let third = try Sample.install(store, "qa", seed: 3)
        #expect(third.version == 3)
    }

    @Test("remove deletes the task; a later install starts again with a fresh adapter id")
    func remove() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        let first = try Sample.install(store, "a", seed: 1)
        try Sample.install(store, "b", seed: 2)
        let removed = try store.removeTask(named: "a")
        #expect(removed == first)
        #expect(try store.tasks().map(\.name) == ["b"])
        let error = try #require(throws: StoreError.self) { try store.removeTask(named: "a") }
        #expect(error.code == .taskNotFound)
        let again = try Sample.install(store, "a", seed: 1)
        #expect(again.version == 1)
        #expect(again.adapter.id > first.adapter.id)
    }

    @Test("identical files shared by two tasks are stored once and counted once")
    func sharedObjects() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        let adapter = Sample.adapter(seed: 9)
        let examples = Sample.examples("same")
        let a = try store.installTask(name: "a", examples: examples, adapter: adapter, installedBy: 0)
        _ = try store.installTask(name: "b", examples: examples, adapter: adapter, installedBy: 0)
        #expect(try store.archiveBytes() == examples.count + a.adapter.bytes)
        try store.removeTask(named: "a")
        try store.collectGarbage()
        #expect(try store.read(a.adapter.weightsDigest) == adapter.weights, "still referenced by b")
    }

    @Test("bad adapter facts are refused before anything is stored")
    func badSubmission() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        var zeroRank = Sample.adapter(seed: 1)
        zeroRank.rank = 0
        var nanSignature = Sample.adapter(seed: 1)
        nanSignature.signature[3] = .nan
        var infiniteScore = Sample.adapter(seed: 1)
        infiniteScore.verdict.score = .infinity
        for submission in [zeroRank, nanSignature, infiniteScore] {
            let error = try #require(throws: StoreError.self) {
                try store.installTask(name: "t", examples: Data(), adapter: submission, installedBy: 0)
            }
            #expect(error.code == .invalidArgument)
        }
        #expect(try store.tasks().isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: temp.state.path + "/objects").isEmpty)
    }
}
