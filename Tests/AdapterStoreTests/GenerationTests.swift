import Foundation
import Testing
@testable import AdapterStore

@Suite("Generations: build, atomic switch, routing, recovery")
struct GenerationTests {
    /// Installs a, b, c and commits a generation serving a alone and b+c merged.
    private func firstGeneration(_ store: AdapterStore) throws -> (Generation, [String: InstalledTask]) {
        var tasks: [String: InstalledTask] = [:]
        for (index, name) in ["a", "b", "c"].enumerated() {
            tasks[name] = try Sample.install(store, name, seed: index + 1)
        }
        let building = try store.beginGeneration(budget: .bytes(100_000), evaluator: "weight-preservation",
                                                 planSummary: Sample.Plan(clusters: 2, note: "first"))
        let own = try store.addServedAdapter(Sample.served(["a"], seed: 1), to: building.id)
        let merged = try store.addServedAdapter(Sample.served(["b", "c"], seed: 2), to: building.id)
        let committed = try store.commitGeneration(building.id, routes: [
            RouteDraft(task: "a", servedAdapterID: own.id, taskAdapterID: tasks["a"]!.adapter.id, retainedQuality: 1),
            RouteDraft(task: "b", servedAdapterID: merged.id, taskAdapterID: tasks["b"]!.adapter.id, retainedQuality: 0.9),
            RouteDraft(task: "c", servedAdapterID: merged.id, taskAdapterID: tasks["c"]!.adapter.id, retainedQuality: 0.8),
        ])
        return (committed, tasks)
    }

    @Test("a committed generation is current, complete and routable")
    func commitAndRoute() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        let (generation, tasks) = try firstGeneration(store)
        #expect(generation.state == .current)
        #expect(generation.committedAt != nil)
        #expect(generation.servedAdapters.count == 2)
        #expect(generation.routes.map(\.task) == ["a", "b", "c"])
        #expect(generation.routes.allSatisfy { $0.servesInstalledVersion })
        #expect(try generation.planSummary(as: Sample.Plan.self) == Sample.Plan(clusters: 2, note: "first"))
        #expect(generation.evaluator == "weight-preservation")
        let expectedBytes = generation.servedAdapters.map(\.bytes).reduce(0, +)
        #expect(generation.bytesUsed == expectedBytes)
        #expect(try store.servedBytes() == expectedBytes)
        #expect(abs((generation.meanRetainedQuality ?? 0) - 0.9) < 1e-12)
        #expect(try store.currentGeneration() == generation)

        let route = try #require(try store.route(task: "c"))
        #expect(route.generationID == generation.id)
        #expect(route.taskVersion == tasks["c"]!.version)
        #expect(route.retainedQuality == 0.8)
        #expect(route.servedAdapter.memberTasks == ["b", "c"])
        #expect(route.servedAdapter.kind == .merged)
        #expect(route.servedAdapter.scale == 2.0)
        let draft = Sample.served(["b", "c"], seed: 2)
        let directory = route.servedAdapter.directory.path
        #expect(directory == temp.state.path + "/generations/\(generation.id)/\(route.servedAdapter.id)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/adapter_model.safetensors")) == draft.weights)
        #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/adapter_config.json")) == draft.configJSON)
        #expect(try store.read(route.servedAdapter.weightsDigest) == draft.weights)
        #expect(try store.servedAdapter(id: route.servedAdapter.id) == route.servedAdapter)
        #expect(try store.servedAdapter(id: 999_999) == nil)
        #expect(try store.route(task: "nonexistent") == nil)
        #expect(try store.integrityCheck().isHealthy)
    }

    @Test("a begun generation is invisible until committed, and deleted on reopen if never committed")
    func uncommittedInvisibleAndRemoved() throws {
        let temp = try TemporaryDirectory()
        let building: Generation
        let served: ServedAdapter
        let firstID: Int64
        do {
            let store = try AdapterStore.open(stateDirectory: temp.state)
            let (first, _) = try firstGeneration(store)
            firstID = first.id
            let d = try Sample.install(store, "d", seed: 4)
            building = try store.beginGeneration(budget: .bytes(100_000), evaluator: "e",
                                                 planSummary: Sample.Plan(clusters: 1, note: "unfinished"))
            #expect(building.state == .building)
            served = try store.addServedAdapter(Sample.served(["a", "b", "c", "d"], seed: 50), to: building.id)
            _ = d
            // Still the first generation everywhere.
            #expect(try store.currentGeneration()?.id == first.id)
            #expect(try store.route(task: "a")?.generationID == first.id)
            #expect(try store.route(task: "d") == nil)
            #expect(try fileStatus(served.directory.path + "/adapter_model.safetensors") != nil)
            // GC while building keeps the building generation's files.
            try store.collectGarbage()
            #expect(try store.read(served.weightsDigest) == Sample.served(["a", "b", "c", "d"], seed: 50).weights)
            try store.close()  // the process "dies" without committing
        }
        let store = try AdapterStore.open(stateDirectory: temp.state)
        #expect(try store.generation(id: building.id) == nil)
        #expect(try store.currentGeneration()?.id == firstID)
        #expect(try fileStatus(temp.state.path + "/generations/\(building.id)") == nil)
        #expect(try !store.contains(served.weightsDigest), "its objects were collected")
        #expect(try store.route(task: "b")?.generationID == firstID)
        #expect(try store.integrityCheck().isHealthy)
        // Ids are never reused, so a leftover could never be mistaken for a new generation.
        let next = try store.beginGeneration(budget: .bytes(1), evaluator: "e", planSummary: [String]())
        #expect(next.id > building.id)
    }

    @Test("switching retires the previous generation and removes its files; routes follow at once")
    func switchGenerations() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        let (first, tasks) = try firstGeneration(store)
        let oldMerged = try #require(first.servedAdapters.first { $0.kind == .merged })
        let oldOwn = try #require(first.servedAdapters.first { $0.kind == .own })

        let second = try store.beginGeneration(budget: .bytes(100_000), evaluator: "e",
                                               planSummary: Sample.Plan(clusters: 1, note: "all"))
        // The own adapter of "a" is reused byte for byte; the merge is new.
        let keep = try store.addServedAdapter(Sample.served(["a"], seed: 1), to: second.id)
        let all = try store.addServedAdapter(Sample.served(["b", "c"], seed: 77), to: second.id)
        let committed = try store.commitGeneration(second.id, routes: ["b", "c"].map {
            RouteDraft(task: $0, servedAdapterID: all.id, taskAdapterID: tasks[$0]!.adapter.id, retainedQuality: 0.7)
        } + [RouteDraft(task: "a", servedAdapterID: keep.id, taskAdapterID: tasks["a"]!.adapter.id, retainedQuality: 1)])

        #expect(committed.state == .current)
        #expect(try store.generation(id: first.id)?.state == .retired)
        #expect(try store.generation(id: first.id)?.retiredAt != nil)
        #expect(try store.generations().map(\.id) == [second.id, first.id])
        #expect(try store.route(task: "b")?.servedAdapter.id == all.id)
        #expect(try fileStatus(temp.state.path + "/generations/\(first.id)") == nil, "retired directory removed")
        #expect(try !store.contains(oldMerged.weightsDigest), "the old merge is collected")
        #expect(try store.contains(oldOwn.weightsDigest), "shared with the new generation")
        #expect(try store.integrityCheck().isHealthy)
        let currentCount = try store.pool.read {
            try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM generations WHERE state = 'current'")
        }
        #expect(currentCount == 1)
    }

    @Test("a served adapter is added to the next generation by reference; a damaged or missing one is refused")
    func servedAdapterReused() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        let (first, tasks) = try firstGeneration(store)
        let merged = try #require(first.servedAdapters.first { $0.kind == .merged })
        let objectCount = try store.objects.inventory().objects.count
        let next = try store.beginGeneration(budget: .bytes(100_000), evaluator: "weight-preservation", planSummary: [String]())
        let kept = try store.addServedAdapter(reusing: merged, to: next.id)
        #expect(kept.id != merged.id && kept.generationID == next.id)
        #expect(kept.kind == .merged && kept.memberTasks == ["b", "c"] && kept.rank == merged.rank && kept.scale == merged.scale)
        #expect(kept.weightsDigest == merged.weightsDigest && kept.configDigest == merged.configDigest && kept.bytes == merged.bytes)
        #expect(try store.objects.inventory().objects.count == objectCount, "no new object")
        let linked = try #require(try fileStatus(kept.directory.path + "/adapter_model.safetensors"))
        let original = try #require(try fileStatus(store.url(for: merged.weightsDigest).path))
        #expect(linked.inode == original.inode)
        let committed = try store.commitGeneration(next.id, routes: ["b", "c"].map {
            RouteDraft(task: $0, servedAdapterID: kept.id, taskAdapterID: tasks[$0]!.adapter.id, retainedQuality: 0.9)
        })
        #expect(committed.bytesUsed == merged.bytes)
        #expect(try store.route(task: "b")?.servedAdapter == kept)
        #expect(try store.integrityCheck().isHealthy)

        // Known damage: the bytes no longer hash to the name (found by a read), so it is not served again.
        let path = store.url(for: merged.weightsDigest).path
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[0] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: path))
        #expect(throws: StoreError.self) { try store.read(merged.weightsDigest) }
        let third = try store.beginGeneration(budget: .bytes(100_000), evaluator: "weight-preservation", planSummary: [String]())
        #expect { try store.addServedAdapter(reusing: kept, to: third.id) } throws: {
            ($0 as? StoreError)?.code == .digestMismatch
        }
        // Missing: gone from the object store.
        try FileManager.default.removeItem(atPath: store.url(for: merged.configDigest).path)
        let config = ServedAdapter(id: kept.id, generationID: kept.generationID, kind: .merged, memberTasks: kept.memberTasks,
                                   configDigest: kept.configDigest, configBytes: kept.configBytes,
                                   weightsDigest: tasks["a"]!.adapter.weightsDigest, weightsBytes: tasks["a"]!.adapter.weightsBytes,
                                   bytes: kept.bytes, rank: kept.rank, scale: kept.scale, directory: kept.directory)
        #expect { try store.addServedAdapter(reusing: config, to: third.id) } throws: {
            ($0 as? StoreError)?.code == .objectMissing
        }
        let unchanged = try store.generation(id: third.id)
        #expect(unchanged?.servedAdapters.isEmpty == true)
    }

    @Test("a task's own adapter is served from its original objects without copying")
    func ownAdapterByReference() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        let a = try Sample.install(store, "a", seed: 1)
        let objectCount = try store.objects.inventory().objects.count
        let generation = try store.beginGeneration(budget: .bytes(1 << 20), evaluator: "own", planSummary: [String]())
        let own = try store.addServedAdapter(servingOwnAdapterOf: a, scale: 2, to: generation.id)
        #expect(own.kind == .own && own.memberTasks == ["a"] && own.rank == a.adapter.rank)
        #expect(own.weightsDigest == a.adapter.weightsDigest && own.bytes == a.adapter.bytes)
        #expect(try store.objects.inventory().objects.count == objectCount, "no new object")
        let linked = try #require(try fileStatus(own.directory.path + "/adapter_model.safetensors"))
        let original = try #require(try fileStatus(store.url(for: a.adapter.weightsDigest).path))
        #expect(linked.inode == original.inode)
        let committed = try store.commitGeneration(generation.id, routes: [
            RouteDraft(task: "a", servedAdapterID: own.id, taskAdapterID: a.adapter.id, retainedQuality: 1),
        ])
        #expect(committed.bytesUsed == a.adapter.bytes)
        #expect(try store.route(task: "a")?.servedAdapter == own)

        // After a re-install the old version cannot be added to a new plan; after GC the served
        // generation still has its files (they are referenced by it, not only by the task).
        try Sample.install(store, "a", seed: 2)
        let next = try store.beginGeneration(budget: .bytes(1 << 20), evaluator: "own", planSummary: [String]())
        let error = try #require(throws: StoreError.self) {
            try store.addServedAdapter(servingOwnAdapterOf: a, scale: 2, to: next.id)
        }
        #expect(error.code == .planOutdated)
        try store.collectGarbage()
        #expect(try store.read(own.weightsDigest) == Sample.adapter(seed: 1).weights)
        #expect(try store.integrityCheck().isHealthy)
    }

    @Test("a generation over its budget is never made current")
    func overBudget() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        let a = try Sample.install(store, "a", seed: 1)
        let generation = try store.beginGeneration(budget: .bytes(1000), evaluator: "e", planSummary: [String]())
        let served = try store.addServedAdapter(Sample.served(["a"], seed: 1, size: 4000), to: generation.id)
        let error = try #require(throws: StoreError.self) {
            try store.commitGeneration(generation.id, routes: [
                RouteDraft(task: "a", servedAdapterID: served.id, taskAdapterID: a.adapter.id, retainedQuality: 1),
            ])
        }
        #expect(error.code == .overBudget)
        #expect(try store.currentGeneration() == nil)
        #expect(try store.route(task: "a") == nil)
        #expect(try store.generation(id: generation.id)?.state == .building)
        try store.abandonGeneration(generation.id)
        #expect(try store.generation(id: generation.id) == nil)
        #expect(try fileStatus(temp.state.path + "/generations/\(generation.id)") == nil)
        try store.collectGarbage()
        #expect(try !store.contains(served.weightsDigest))
    }

    @Test("the old version of a re-installed task is never routed again")
    func reinstallStopsOldRoute() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        let (generation, tasks) = try firstGeneration(store)
        #expect(try store.route(task: "b") != nil)
        let newB = try Sample.install(store, "b", seed: 20)
        #expect(try store.route(task: "b") == nil, "the merge was planned from version 1")
        #expect(try store.route(task: "c") != nil)
        let current = try #require(try store.currentGeneration())
        #expect(current.routes.first { $0.task == "b" }?.servesInstalledVersion == false)
        #expect(current.routes.first { $0.task == "c" }?.servesInstalledVersion == true)

        // A plan made before the re-install cannot be committed.
        let stale = try store.beginGeneration(budget: .bytes(100_000), evaluator: "e", planSummary: [String]())
        let own = try store.addServedAdapter(Sample.served(["b"], seed: 30), to: stale.id)
        let error = try #require(throws: StoreError.self) {
            try store.commitGeneration(stale.id, routes: [
                RouteDraft(task: "b", servedAdapterID: own.id, taskAdapterID: tasks["b"]!.adapter.id, retainedQuality: 1),
            ])
        }
        #expect(error.code == .planOutdated)
        #expect(try store.currentGeneration()?.id == generation.id)
        // The fixed plan commits and routes version 2.
        let fixed = try store.commitGeneration(stale.id, routes: [
            RouteDraft(task: "b", servedAdapterID: own.id, taskAdapterID: newB.adapter.id, retainedQuality: 1),
        ])
        let route = try #require(try store.route(task: "b"))
        #expect(route.generationID == fixed.id && route.taskVersion == 2)
        #expect(try store.route(task: "a") == nil, "a is not in the new generation")

        // Removing a task stops its route too.
        try store.removeTask(named: "b")
        #expect(try store.route(task: "b") == nil)
    }

    @Test("inconsistent route lists are refused", arguments: ["foreign adapter", "not a member", "twice", "removed task", "nan quality"])
    func badRoutes(problem: String) throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        let (first, tasks) = try firstGeneration(store)
        let foreign = try #require(first.servedAdapters.first { $0.kind == .own })
        let generation = try store.beginGeneration(budget: .bytes(100_000), evaluator: "e", planSummary: [String]())
        let served = try store.addServedAdapter(Sample.served(["a", "b"], seed: 5), to: generation.id)
        func draft(_ task: String, _ servedID: Int64 = served.id, quality: Double = 0.5) -> RouteDraft {
            RouteDraft(task: task, servedAdapterID: servedID, taskAdapterID: tasks[task]!.adapter.id, retainedQuality: quality)
        }
        let routes: [RouteDraft]
        let expected: StoreError.Code
        switch problem {
        case "foreign adapter": routes = [draft("a", foreign.id)]; expected = .invalidArgument
        case "not a member": routes = [draft("c")]; expected = .invalidArgument
        case "twice": routes = [draft("a"), draft("a")]; expected = .invalidArgument
        case "removed task":
            try store.removeTask(named: "a")
            routes = [draft("a")]; expected = .planOutdated
        default: routes = [draft("a", quality: .nan)]; expected = .invalidArgument
        }
        let error = try #require(throws: StoreError.self) { try store.commitGeneration(generation.id, routes: routes) }
        #expect(error.code == expected)
        #expect(try store.currentGeneration()?.id == first.id)
        #expect(try store.generation(id: generation.id)?.state == .building)
    }

    @Test("committed or unknown generations cannot be changed")
    func immutableAfterCommit() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        let (generation, _) = try firstGeneration(store)
        let add = try #require(throws: StoreError.self) {
            try store.addServedAdapter(Sample.served(["a"], seed: 9), to: generation.id)
        }
        #expect(add.code == .generationNotBuilding)
        let commit = try #require(throws: StoreError.self) { try store.commitGeneration(generation.id, routes: []) }
        #expect(commit.code == .generationNotBuilding)
        let abandon = try #require(throws: StoreError.self) { try store.abandonGeneration(generation.id) }
        #expect(abandon.code == .generationNotBuilding)
        let unknown = try #require(throws: StoreError.self) { try store.commitGeneration(9999, routes: []) }
        #expect(unknown.code == .generationNotFound)
        #expect(try store.currentGeneration() == generation)
        let badOwn = try #require(throws: StoreError.self) {
            let g = try store.beginGeneration(budget: .bytes(10), evaluator: "e", planSummary: [String]())
            try store.addServedAdapter(Sample.served(["a", "b"], seed: 9, kind: .own), to: g.id)
        }
        #expect(badOwn.code == .invalidArgument)
    }

    @Test("missing directories of the current generation are rebuilt at open; stray ones removed")
    func rebuildDirectories() throws {
        let temp = try TemporaryDirectory()
        let generation: Generation
        do {
            let store = try AdapterStore.open(stateDirectory: temp.state)
            (generation, _) = try firstGeneration(store)
            try store.close()
        }
        try FileManager.default.removeItem(atPath: temp.state.path + "/generations/\(generation.id)")
        try FileManager.default.createDirectory(atPath: temp.state.path + "/generations/9999/1", withIntermediateDirectories: true)
        let store = try AdapterStore.open(stateDirectory: temp.state)
        #expect(try fileStatus(temp.state.path + "/generations/9999") == nil)
        for served in generation.servedAdapters {
            let weights = try Data(contentsOf: served.directory.appendingPathComponent("adapter_model.safetensors"))
            #expect(ContentDigest.of(weights) == served.weightsDigest)
        }
        #expect(try store.integrityCheck().isHealthy)
    }
}
