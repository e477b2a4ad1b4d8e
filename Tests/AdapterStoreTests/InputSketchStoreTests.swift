import AdapterCore
import Foundation
import Testing
@testable import AdapterStore

/// The catalog's input sketches: kept per task and base model for the task's current version only,
/// replaced by a newer one, gone with the task.
@Suite("Input sketches in the catalog")
struct InputSketchStoreTests {
    @Test func sketchesFollowTheTaskVersionAndGoWithTheTask() throws {
        let directory = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: directory.url)
        defer { try? store.close() }
        _ = try Sample.install(store, "alpha", seed: 1)
        _ = try Sample.install(store, "beta", seed: 2)

        #expect(try store.saveInputSketch(Data("a1".utf8), task: "alpha", version: 1, model: "m"))
        #expect(try store.saveInputSketch(Data("b1".utf8), task: "beta", version: 1, model: "m"))
        #expect(try store.saveInputSketch(Data("a-other".utf8), task: "alpha", version: 1, model: "other"))
        // Not the current version, or no such task: nothing stored.
        #expect(try !store.saveInputSketch(Data("a2".utf8), task: "alpha", version: 2, model: "m"))
        #expect(try !store.saveInputSketch(Data("g".utf8), task: "gamma", version: 1, model: "m"))
        #expect(throws: StoreError.self) { try store.saveInputSketch(Data(), task: "alpha", version: 1, model: "") }
        #expect(try store.inputSketches(model: "m") == ["alpha": Data("a1".utf8), "beta": Data("b1".utf8)])

        // Version 2 of alpha: the version-1 sketch no longer describes its examples.
        _ = try Sample.install(store, "alpha", seed: 3)
        #expect(try store.inputSketches(model: "m") == ["beta": Data("b1".utf8)])
        #expect(try store.saveInputSketch(Data("a2".utf8), task: "alpha", version: 2, model: "m"))
        #expect(try store.inputSketches(model: "m")["alpha"] == Data("a2".utf8))

        try store.removeTask(named: "alpha")
        #expect(try store.inputSketches(model: "m") == ["beta": Data("b1".utf8)])
        #expect(try store.inputSketches(model: "other").isEmpty)
        // Installed again from scratch (version 1): no sketch of the removed task comes back.
        _ = try Sample.install(store, "alpha", seed: 4)
        #expect(try store.inputSketches(model: "m")["alpha"] == nil)
        #expect(try store.inputSketches(model: "other")["alpha"] == nil)
    }
}
