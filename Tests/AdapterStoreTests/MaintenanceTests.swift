import Foundation
import Testing
@testable import AdapterStore

@Suite("Garbage collection and integrity checks")
struct MaintenanceTests {
    @Test("garbage collection removes only what nothing references")
    func collectsOnlyGarbage() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        let a = try Sample.install(store, "a", seed: 1)
        let b = try Sample.install(store, "b", seed: 2)
        let generation = try store.beginGeneration(budget: .bytes(1 << 20), evaluator: "e", planSummary: [String]())
        let merged = try store.addServedAdapter(Sample.served(["a", "b"], seed: 3), to: generation.id)
        try store.commitGeneration(generation.id, routes: [a, b].map {
            RouteDraft(task: $0.name, servedAdapterID: merged.id, taskAdapterID: $0.adapter.id, retainedQuality: 0.9)
        })
        let loose = try store.put(Data("nobody refers to me".utf8))
        let referenced = [a.examplesDigest, a.adapter.configDigest, a.adapter.weightsDigest,
                          b.examplesDigest, b.adapter.configDigest, b.adapter.weightsDigest,
                          merged.configDigest, merged.weightsDigest]

        let report = try store.collectGarbage()
        #expect(report.removedObjects == 1)
        #expect(report.removedBytes == "nobody refers to me".utf8.count)
        #expect(try !store.contains(loose))
        for digest in referenced {
            #expect(try store.read(digest).count > 0, "referenced object \(digest) kept")
        }
        // Collecting again finds nothing, and a reopen (which collects too) keeps everything.
        #expect(try store.collectGarbage() == GarbageCollectionReport(removedObjects: 0, removedBytes: 0,
                                                                      removedStrayEntries: 0,
                                                                      removedGenerationDirectories: 0))
        try store.close()
        let reopened = try AdapterStore.open(stateDirectory: temp.state)
        for digest in referenced { #expect(try reopened.contains(digest)) }
        #expect(try reopened.integrityCheck().isHealthy)
    }

    @Test("garbage collection running during installs never removes an acknowledged install's files")
    func concurrentInstallsAndCollection() async throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        let installed = try await withThrowingTaskGroup(of: [InstalledTask].self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var done: [InstalledTask] = []
                    for round in 0..<6 {
                        // Re-installs of the same names make earlier files garbage while others are written.
                        done.append(try Sample.install(store, "w\(worker)-\(round % 3)", seed: worker * 100 + round))
                    }
                    return done
                }
            }
            group.addTask {
                for _ in 0..<40 { try store.collectGarbage() }
                return []
            }
            var all: [InstalledTask] = []
            for try await batch in group { all += batch }
            return all
        }
        #expect(installed.count == 24)
        try store.collectGarbage()
        let tasks = try store.tasks()
        #expect(tasks.count == 12)
        for task in tasks {
            let latest = try #require(installed.filter { $0.name == task.name }.max { $0.version < $1.version })
            #expect(task == latest)
            #expect(try store.read(task.adapter.weightsDigest).count == 4096)
            #expect(try store.examples(of: task).count == task.examplesBytes)
        }
        #expect(try store.integrityCheck().isHealthy)
    }

    @Test("integrityCheck reports a corrupted, a truncated and a missing object")
    func integrity() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        let a = try Sample.install(store, "a", seed: 1)
        let healthy = try store.integrityCheck()
        #expect(healthy.isHealthy)
        #expect(healthy.checkedObjects == 3)

        // Same size, different bytes: only the digest can tell.
        var weights = try store.read(a.adapter.weightsDigest)
        weights[17] ^= 0xff
        try overwrite(store.url(for: a.adapter.weightsDigest).path, with: weights)
        let corrupted = try store.integrityCheck()
        #expect(corrupted.problems.count == 1)
        #expect(corrupted.problems.first?.contains(a.adapter.weightsDigest.hex) == true)

        try overwrite(store.url(for: a.adapter.configDigest).path, with: Data("{}".utf8))
        try FileManager.default.removeItem(at: store.url(for: a.examplesDigest))
        let worse = try store.integrityCheck()
        #expect(worse.problems.count == 3)
        #expect(worse.problems.contains { $0.contains("missing") })
        #expect(worse.problems.contains { $0.contains("bytes") })
    }

    @Test("integrityCheck reports damage to the current generation's directory")
    func integrityOfServedDirectory() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        let a = try Sample.install(store, "a", seed: 1)
        let generation = try store.beginGeneration(budget: .bytes(1 << 20), evaluator: "e", planSummary: [String]())
        let own = try store.addServedAdapter(Sample.served(["a"], seed: 1), to: generation.id)
        try store.commitGeneration(generation.id, routes: [
            RouteDraft(task: "a", servedAdapterID: own.id, taskAdapterID: a.adapter.id, retainedQuality: 1),
        ])
        #expect(try store.integrityCheck().isHealthy)
        try FileManager.default.removeItem(at: own.directory.appendingPathComponent("adapter_config.json"))
        let report = try store.integrityCheck()
        #expect(report.problems.count == 1)
        #expect(report.problems.first?.contains("adapter_config.json") == true)
    }

    @Test("archive and served bytes are accounted separately")
    func accounting() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        let a = try Sample.install(store, "a", seed: 1)
        let b = try Sample.install(store, "b", seed: 2)
        #expect(try store.archiveBytes() == a.examplesBytes + a.adapter.bytes + b.examplesBytes + b.adapter.bytes)
        #expect(try store.servedBytes() == 0)
        let generation = try store.beginGeneration(budget: .bytes(1 << 20), evaluator: "e", planSummary: [String]())
        let merged = try store.addServedAdapter(Sample.served(["a", "b"], seed: 3, size: 3000), to: generation.id)
        #expect(try store.servedBytes() == 0, "a building generation is not served")
        try store.commitGeneration(generation.id, routes: [])
        #expect(try store.servedBytes() == merged.bytes)
        #expect(merged.bytes == 3000 + merged.configBytes)
    }
}
