import Foundation
import Testing
@testable import AdapterStore

/// Before a change the space reserve is put back (or the change refused); settings committed with a
/// generation change exactly when it does.
@Suite("Writability: space reserve before a change, settings with the generation")
struct WritabilityTests {
    @Test("prepareForChange puts a released reserve back")
    func reserveBeforeChange() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        #expect(store.releaseSpaceReserve())
        #expect(!store.hasSpaceReserve)
        try store.prepareForChange()
        #expect(store.hasSpaceReserve)
        #expect(store.readOnlyReason() == nil)
    }

    @Test("a reserve cut short by a crash is made whole")
    func shortReserve() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        #expect(store.releaseSpaceReserve())
        try Data(count: 100).write(to: temp.state.appendingPathComponent("reserve"))
        try store.prepareForChange()
        #expect((try FileManager.default.attributesOfItem(atPath: temp.state.path + "/reserve")[.size] as? Int) == AdapterStore.spaceReserveBytes)
    }

    @Test("a planted link as the reserve stops changes with a clear reason, and is left alone")
    func plantedReserve() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        #expect(store.releaseSpaceReserve())
        try FileManager.default.createSymbolicLink(atPath: temp.state.path + "/reserve", withDestinationPath: "/dev/null")
        do {
            try store.prepareForChange()
            Issue.record("a change was prepared with a link as the space reserve")
        } catch let error as StoreError {
            #expect(error.code == .readOnly)
            #expect(error.message.contains("symbolic link"), "\(error.message)")
        }
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: temp.state.path + "/reserve") == "/dev/null")
    }

    @Test("settings committed with a generation are stored only when it becomes current")
    func settingsWithGeneration() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        let a = try Sample.install(store, "a", seed: 1)
        // Over its budget: not made current, and the setting is not stored.
        let tooSmall = try store.beginGeneration(budget: .bytes(10), evaluator: "e", planSummary: [String]())
        let served = try store.addServedAdapter(servingOwnAdapterOf: a, scale: 2, to: tooSmall.id)
        let route = RouteDraft(task: "a", servedAdapterID: served.id, taskAdapterID: a.adapter.id, retainedQuality: 1)
        #expect(throws: StoreError.self) {
            try store.commitGeneration(tooSmall.id, routes: [route], settings: [SettingKey.budgetBytes: "10"])
        }
        #expect(try store.storedBudget() == nil)
        try store.abandonGeneration(tooSmall.id)

        let roomy = try store.beginGeneration(budget: .bytes(1 << 20), evaluator: "e", planSummary: [String]())
        let second = try store.addServedAdapter(servingOwnAdapterOf: a, scale: 2, to: roomy.id)
        try store.commitGeneration(roomy.id, routes: [
            RouteDraft(task: "a", servedAdapterID: second.id, taskAdapterID: a.adapter.id, retainedQuality: 1)],
            settings: [SettingKey.budgetBytes: "\(1 << 20)"])
        #expect(try store.storedBudget() == .bytes(1 << 20))
        #expect(try store.currentGeneration()?.id == roomy.id)
    }

    @Test("a removed task is put back as it was")
    func restoreRemoved() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        let a = try Sample.install(store, "a", seed: 1)
        try store.removeTask(named: "a")
        try store.restoreTask(a)
        #expect(try store.task(named: "a") == a)
        #expect(try store.integrityCheck().isHealthy)
    }
}
