import Foundation
import Testing
@testable import AdapterStore

/// A catalog that is missing, empty, or deleted while open never makes the store delete objects:
/// open refuses (or, asked to, moves them to lost+found), and a catalog lost while open stops every
/// change and is saved, to be restored by the next open.
@Suite("Catalog recovery: nothing deleted on a guess")
struct CatalogRecoveryTests {
    /// The object files under objects/ as `ab/abcd…` paths.
    static func objectFiles(_ root: URL) throws -> Set<String> {
        var found = Set<String>()
        let objects = root.path + "/objects"
        for fanOut in try FileManager.default.contentsOfDirectory(atPath: objects) {
            for name in try FileManager.default.contentsOfDirectory(atPath: objects + "/" + fanOut) {
                found.insert(fanOut + "/" + name)
            }
        }
        return found
    }

    static func removeCatalog(_ state: URL) {
        for suffix in ["", "-wal", "-shm"] { unlink(state.path + "/catalog.sqlite" + suffix) }
    }

    @Test("a missing catalog next to objects is refused, and nothing is deleted")
    func missingCatalogIsRefused() throws {
        let temp = try TemporaryDirectory()
        do {
            let store = try AdapterStore.open(stateDirectory: temp.state)
            try Sample.install(store, "a", seed: 1)
            try Sample.install(store, "b", seed: 2)
            try store.close()
        }
        let objects = try Self.objectFiles(temp.state)
        #expect(objects.count == 6)
        Self.removeCatalog(temp.state)

        #expect(throws: StoreError.self) { _ = try AdapterStore.open(stateDirectory: temp.state) }
        do {
            _ = try AdapterStore.open(stateDirectory: temp.state)
        } catch let error as StoreError {
            #expect(error.code == .catalogMissing)
            #expect(error.message.contains("6 objects"), "\(error.message)")
            #expect(error.message.contains("--recover-catalog"))
        }
        #expect(try Self.objectFiles(temp.state) == objects)
        #expect(!FileManager.default.fileExists(atPath: temp.state.path + "/catalog.sqlite"))
    }

    @Test("recovery moves the objects and generation directories to lost+found and starts empty")
    func recoveryMovesAside() throws {
        let temp = try TemporaryDirectory()
        do {
            let store = try AdapterStore.open(stateDirectory: temp.state)
            let a = try Sample.install(store, "a", seed: 1)
            let generation = try store.beginGeneration(budget: .bytes(1 << 20), evaluator: "e", planSummary: [String]())
            let served = try store.addServedAdapter(servingOwnAdapterOf: a, scale: 2, to: generation.id)
            try store.commitGeneration(generation.id, routes: [
                RouteDraft(task: "a", servedAdapterID: served.id, taskAdapterID: a.adapter.id, retainedQuality: 1)])
            try store.close()
        }
        let objects = try Self.objectFiles(temp.state)
        Self.removeCatalog(temp.state)

        let store = try AdapterStore.open(stateDirectory: temp.state, options: .init(recoverCatalog: true))
        #expect(try store.tasks().isEmpty)
        #expect(try Self.objectFiles(temp.state).isEmpty)
        let batches = try FileManager.default.contentsOfDirectory(atPath: temp.state.path + "/lost+found")
        try #require(batches.count == 1)
        let batch = temp.state.appendingPathComponent("lost+found/" + batches[0])
        #expect(try Self.objectFiles(batch) == objects)
        #expect(FileManager.default.fileExists(atPath: batch.path + "/README"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: batch.path + "/generations").count == 1)
        #expect(store.openNotes.contains { $0.contains("lost+found") })
        // The recovered store works.
        try Sample.install(store, "again", seed: 3)
        #expect(try store.integrityCheck().isHealthy)
    }

    @Test("an empty catalog file next to objects is refused too, and recovery moves it aside")
    func emptyCatalogIsRefused() throws {
        let temp = try TemporaryDirectory()
        do {
            let store = try AdapterStore.open(stateDirectory: temp.state)
            try Sample.install(store, "a", seed: 1)
            try store.close()
        }
        let objects = try Self.objectFiles(temp.state)
        Self.removeCatalog(temp.state)
        try #require(FileManager.default.createFile(atPath: temp.state.path + "/catalog.sqlite", contents: Data()))
        do {
            _ = try AdapterStore.open(stateDirectory: temp.state)
            Issue.record("an empty catalog next to 3 objects was opened")
        } catch let error as StoreError {
            #expect(error.code == .catalogMissing)
        }
        #expect(try Self.objectFiles(temp.state) == objects)
        let store = try AdapterStore.open(stateDirectory: temp.state, options: .init(recoverCatalog: true))
        #expect(try store.tasks().isEmpty)
        let batches = try FileManager.default.contentsOfDirectory(atPath: temp.state.path + "/lost+found")
        #expect(FileManager.default.fileExists(atPath: temp.state.path + "/lost+found/\(batches[0])/catalog.sqlite"))
    }

    @Test("a catalog deleted while open stops every change, is saved, and is restored by the next open")
    func deletedWhileOpen() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        try Sample.install(store, "a", seed: 1)
        let objects = try Self.objectFiles(temp.state)
        #expect(store.readOnlyReason() == nil)
        unlink(temp.state.path + "/catalog.sqlite")

        #expect(store.readOnlyReason()?.contains("catalog") == true)
        do {
            try Sample.install(store, "b", seed: 2)
            Issue.record("an install was accepted after the catalog was deleted")
        } catch let error as StoreError {
            #expect(error.code == .catalogLost)
            #expect(error.message.contains("catalog.sqlite.rescued"), "\(error.message)")
        }
        #expect(throws: StoreError.self) { try store.collectGarbage() }
        #expect(throws: StoreError.self) { try store.prepareForChange() }
        #expect(try store.tasks().map(\.name) == ["a"])   // reads go on
        #expect(try Self.objectFiles(temp.state) == objects)
        #expect(FileManager.default.fileExists(atPath: temp.state.path + "/catalog.sqlite.rescued"))
        try store.close()

        let reopened = try AdapterStore.open(stateDirectory: temp.state)
        #expect(try reopened.tasks().map(\.name) == ["a"])
        #expect(reopened.openNotes.contains { $0.contains("restored the catalog") })
        #expect(!FileManager.default.fileExists(atPath: temp.state.path + "/catalog.sqlite.rescued"))
        #expect(try reopened.integrityCheck().isHealthy)
        #expect(reopened.readOnlyReason() == nil)
    }

    @Test("a catalog replaced by another file while open is lost too")
    func replacedWhileOpen() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        try Sample.install(store, "a", seed: 1)
        let path = temp.state.path + "/catalog.sqlite"
        try FileManager.default.moveItem(atPath: path, toPath: path + ".moved")
        try FileManager.default.copyItem(atPath: path + ".moved", toPath: path)
        #expect(store.readOnlyReason()?.contains("replaced") == true)
        #expect(throws: StoreError.self) { try store.put(Data("x".utf8)) }
        try store.close()
    }

    @Test("a catalog replaced by an empty file while open: the saved copy wins over the empty file at the next open")
    func replacedByEmptyFile() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        try Sample.install(store, "a", seed: 1)
        let path = temp.state.path + "/catalog.sqlite"
        unlink(path)
        try #require(FileManager.default.createFile(atPath: path, contents: Data()))
        #expect(throws: StoreError.self) { try Sample.install(store, "b", seed: 2) }
        try store.close()

        let reopened = try AdapterStore.open(stateDirectory: temp.state)
        #expect(try reopened.tasks().map(\.name) == ["a"])
        let batches = try FileManager.default.contentsOfDirectory(atPath: temp.state.path + "/lost+found")
        #expect(batches.count == 1)
        #expect(FileManager.default.fileExists(atPath: temp.state.path + "/lost+found/\(batches[0])/catalog.sqlite"))
    }

    @Test("a saved copy found next to a catalog in use is stale: moved aside, never restored later")
    func staleRescueMovedAside() throws {
        let temp = try TemporaryDirectory()
        do {
            let store = try AdapterStore.open(stateDirectory: temp.state)
            try Sample.install(store, "a", seed: 1)
            try store.close()
        }
        try Data("an old copy".utf8).write(to: temp.state.appendingPathComponent("catalog.sqlite.rescued"))
        let store = try AdapterStore.open(stateDirectory: temp.state)
        #expect(!FileManager.default.fileExists(atPath: temp.state.path + "/catalog.sqlite.rescued"))
        let batches = try FileManager.default.contentsOfDirectory(atPath: temp.state.path + "/lost+found")
        #expect(batches.count == 1)
        #expect(FileManager.default.fileExists(atPath: temp.state.path + "/lost+found/\(batches[0])/catalog.sqlite.rescued"))
        #expect(try store.tasks().map(\.name) == ["a"])
    }
}
