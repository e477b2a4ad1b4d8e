import Foundation
import GRDB
import Testing
@testable import AdapterStore

@Suite("State directory: layout, catalog set-up, refusal of unsafe directories")
struct StateDirectoryTests {
    @Test("open on a missing directory creates the layout with mode 0700 and migrates the catalog")
    func createsLayout() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        for sub in ["", "/objects", "/generations", "/tmp"] {
            let info = try #require(try fileStatus(temp.state.path + sub))
            #expect(info.isDirectory)
            #expect(info.permissions == 0o700, "mode of \(sub.isEmpty ? "state" : sub)")
        }
        let catalog = try #require(try fileStatus(temp.state.path + "/catalog.sqlite"))
        #expect(catalog.isRegularFile)
        let (journal, synchronous, foreignKeys, applied, tables) = try store.pool.writeWithoutTransaction { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode"),
             try Int.fetchOne(db, sql: "PRAGMA synchronous"),
             try Int.fetchOne(db, sql: "PRAGMA foreign_keys"),
             try CatalogSchema.migrator.appliedMigrations(db),
             try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"))
        }
        #expect(journal == "wal")
        #expect(synchronous == 2, "synchronous=FULL is 2")
        #expect(foreignKeys == 1)
        #expect(applied == CatalogSchema.knownMigrations)
        #expect(applied.count == StoreInfo.schemaVersion)
        for table in ["adapters", "generations", "quarantine", "served_adapters", "settings", "task_routes", "tasks"] {
            #expect(tables.contains(table), "table \(table)")
        }
        #expect(try store.tasks().isEmpty)
        #expect(try store.currentGeneration() == nil)
        #expect(try store.integrityCheck().isHealthy)
    }

    @Test("reopening keeps data and runs no migration twice")
    func reopen() throws {
        let temp = try TemporaryDirectory()
        do {
            let store = try AdapterStore.open(stateDirectory: temp.state)
            try Sample.install(store, "alpha", seed: 1)
            try store.close()
        }
        let store = try AdapterStore.open(stateDirectory: temp.state)
        #expect(try store.tasks().map(\.name) == ["alpha"])
        let count = try store.pool.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM grdb_migrations") }
        #expect(count == CatalogSchema.knownMigrations.count)
    }

    @Test("a catalog from a newer adapterd is refused")
    func newerSchemaRefused() throws {
        let temp = try TemporaryDirectory()
        do {
            let store = try AdapterStore.open(stateDirectory: temp.state)
            try store.pool.write { try $0.execute(sql: "INSERT INTO grdb_migrations VALUES ('v99: from the future')") }
            try store.close()
        }
        let error = try #require(throws: StoreError.self) { try AdapterStore.open(stateDirectory: temp.state) }
        #expect(error.code == .schemaTooNew)
    }

    @Test("a catalog that is not a SQLite database gives a clear error, not a crash")
    func garbageCatalog() throws {
        let temp = try TemporaryDirectory()
        do { try AdapterStore.open(stateDirectory: temp.state).close() }
        let catalog = temp.state.appendingPathComponent("catalog.sqlite")
        try Data(repeating: 0x5a, count: 8192).write(to: catalog)
        let error = try #require(throws: StoreError.self) { try AdapterStore.open(stateDirectory: temp.state) }
        #expect(error.code == .database)
        #expect(error.message.contains("catalog.sqlite"))
    }

    @Test("an existing directory with loose permissions is made 0700")
    func tightensPermissions() throws {
        let temp = try TemporaryDirectory()
        try FileManager.default.createDirectory(at: temp.state, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        _ = try AdapterStore.open(stateDirectory: temp.state)
        #expect(try fileStatus(temp.state.path)?.permissions == 0o700)
    }

    @Test("a state directory that is a symbolic link is refused")
    func symlinkStateDirectory() throws {
        let temp = try TemporaryDirectory()
        let real = temp.url.appendingPathComponent("real")
        try FileManager.default.createDirectory(at: real, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: temp.state, withDestinationURL: real)
        let error = try #require(throws: StoreError.self) { try AdapterStore.open(stateDirectory: temp.state) }
        #expect(error.code == .unsafeStateDirectory)
        #expect(error.message.contains("symbolic link"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: real.path).isEmpty, "nothing written through the link")
    }

    @Test("a state directory owned by another user is refused")
    func foreignOwner() throws {
        let temp = try TemporaryDirectory()
        try FileManager.default.createDirectory(at: temp.state, withIntermediateDirectories: true)
        let other = FileSystem.effectiveUID == 65534 ? UInt32(65533) : UInt32(65534)
        if FileSystem.effectiveUID == 0 {
            // Running as root: really hand the directory to someone else.
            #expect(chown(temp.state.path, other, other) == 0)
            let error = try #require(throws: StoreError.self) { try AdapterStore.open(stateDirectory: temp.state) }
            #expect(error.code == .unsafeStateDirectory)
            #expect(error.message.contains("owned by uid \(other)"))
        }
        // And the rule itself, for any user: a directory whose owner is not the expected uid is refused.
        let error = try #require(throws: StoreError.self) {
            try StateLayout.prepare(temp.state, owner: other == 65534 ? 65533 : 65534)
        }
        #expect(error.code == .unsafeStateDirectory)
    }

    @Test("a regular file as state directory is refused")
    func fileAsStateDirectory() throws {
        let temp = try TemporaryDirectory()
        try Data("x".utf8).write(to: temp.state)
        let error = try #require(throws: StoreError.self) { try AdapterStore.open(stateDirectory: temp.state) }
        #expect(error.code == .unsafeStateDirectory)
    }

    @Test("symbolic links planted for objects/, the catalog or the lock are refused", arguments: ["objects", "tmp", "generations", "catalog.sqlite", "lock"])
    func plantedLinks(name: String) throws {
        let temp = try TemporaryDirectory()
        do { try AdapterStore.open(stateDirectory: temp.state).close() }
        let target = temp.url.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        let planted = temp.state.appendingPathComponent(name)
        try FileManager.default.removeItem(at: planted)
        try FileManager.default.createSymbolicLink(at: planted, withDestinationURL: target)
        let error = try #require(throws: StoreError.self) { try AdapterStore.open(stateDirectory: temp.state) }
        #expect(error.code == .symlinkRefused)
        #expect(try FileManager.default.contentsOfDirectory(atPath: target.path).isEmpty)
    }

    @Test("a second open of the same directory is refused until the first is closed")
    func exclusiveOpen() throws {
        let temp = try TemporaryDirectory()
        let first = try AdapterStore.open(stateDirectory: temp.state)
        let error = try #require(throws: StoreError.self) { try AdapterStore.open(stateDirectory: temp.state) }
        #expect(error.code == .stateDirectoryInUse)
        try first.close()
        #expect(throws: StoreError.self) { try first.tasks() }
        _ = try AdapterStore.open(stateDirectory: temp.state)
    }
}
