import AdapterCore
import Foundation
import GRDB

/// adapterd's persistence: a SQLite catalog plus a content-addressed file store, in one state directory.
///
/// Open it once per process with `AdapterStore.open(stateDirectory:)`; it is safe to share across
/// threads and tasks (reads run concurrently on a WAL connection pool, writes are serialised by
/// SQLite). Every mutating call returns only after its changes are durable (files fsynced before the
/// transaction; the transaction committed with `synchronous=FULL`).
///
/// The catalog holds tasks and their current original adapters, the quarantine, generations
/// (served sets) and settings. The files are immutable blobs named by SHA-256 under `objects/`; the
/// current generation's adapters are also visible as PEFT directories under `generations/`
/// (hard links to the blobs). See `StateLayout` in the sources for the exact layout.
///
/// Crash consistency: a blob is visible only after it was written completely (temp file, fsync,
/// verify, rename, fsync of the directory); catalog changes are single transactions; a generation
/// is built in state `building` and made current by one transaction. `open` deletes whatever an
/// interrupted process left behind: files in `tmp/`, building generations, and unreferenced blobs.
///
/// The API at a glance (all calls synchronous and throwing `StoreError`):
/// - life cycle: `open(stateDirectory:)`, `close()`
/// - objects: `put(_:)`, `read(_:)`, `contains(_:)`, `url(for:)`
/// - tasks: `installTask(name:examples:adapter:installedBy:)`, `tasks()`, `task(named:)`,
///   `examples(of:)`, `removeTask(named:)`
/// - quarantine: `addQuarantine(weightsDigest:task:verdict:peerUID:refusedAt:)`, `quarantine(limit:)`
/// - generations: `beginGeneration(budgetBytes:evaluator:planSummary:)`, `addServedAdapter(_:to:)`,
///   `addServedAdapter(servingOwnAdapterOf:scale:to:)`, `commitGeneration(_:routes:)`, `abandonGeneration(_:)`, `currentGeneration()`, `generation(id:)`,
///   `generations()`, `servedAdapter(id:)`, `route(task:)`
/// - settings: `setting(_:)`, `setSetting(_:to:)`, `settings()`, `budgetBytes()`, `setBudgetBytes(_:)`
/// - accounting and upkeep: `archiveBytes()`, `servedBytes()`, `collectGarbage()`, `integrityCheck()`
public final class AdapterStore: Sendable {
    /// The state directory (absolute).
    public let stateDirectory: URL

    let layout: StateLayout
    let objects: ObjectStore
    let pool: DatabasePool
    let pins = PinSet()
    private let directoryLock: StateDirectoryLock
    private let closed = ClosedFlag()

    /// Opens (creating if needed) the store in `stateDirectory`.
    ///
    /// Checks the directory (a real directory owned by this user, made 0700; no symbolic links where
    /// the store keeps files), takes an exclusive lock on it, runs catalog migrations, then removes
    /// leftovers of an interrupted process (tmp files, generations never committed, unreferenced
    /// objects) and rebuilds the current generation's directories if any are missing.
    /// - Throws: `StoreError` (`.unsafeStateDirectory`, `.symlinkRefused`, `.stateDirectoryInUse`,
    ///   `.schemaTooNew`, `.database`, `.io`).
    public static func open(stateDirectory: URL) throws -> AdapterStore {
        let layout = try StateLayout.prepare(stateDirectory)
        let lock = try StateDirectoryLock(path: layout.lockFile)
        for name in try FileSystem.entries(of: layout.tmp) {
            try FileSystem.removeTree(layout.tmp + "/" + name)
        }
        let pool = try Self.openCatalog(layout)
        let store = AdapterStore(layout: layout, pool: pool, lock: lock)
        do {
            try store.recoverAtOpen()
        } catch {
            // On a full disk the clean-up itself may need the reserved space.
            guard store.releaseSpaceReserve() else { throw error }
            try store.recoverAtOpen()
        }
        store.ensureSpaceReserve()
        return store
    }

    private init(layout: StateLayout, pool: DatabasePool, lock: StateDirectoryLock) {
        self.layout = layout
        self.stateDirectory = URL(fileURLWithPath: layout.root, isDirectory: true)
        self.objects = ObjectStore(layout: layout)
        self.pool = pool
        self.directoryLock = lock
    }

    /// Closes the catalog and releases the state directory. Later calls throw `.closed`.
    /// (Dropping the last reference does the same.)
    public func close() throws {
        guard closed.set() else { return }
        do {
            // Fold the WAL back into catalog.sqlite, so a cleanly closed catalog is one file.
            try? pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
            try pool.close()
        } catch {
            directoryLock.release()
            throw StoreError(.database, "cannot close the catalog: \(error)")
        }
        directoryLock.release()
    }

    // MARK: Content store

    /// Stores `data` as an object and returns its digest. Crash-safe; an object already present is
    /// success. An object that nothing in the catalog references is removed by the next
    /// `collectGarbage()`; the install and generation calls put their own files.
    @discardableResult
    public func put(_ data: Data) throws -> ContentDigest {
        try checkOpen()
        return try objects.put(data)
    }

    /// Reads an object, verifying its digest. Throws `.objectMissing` or `.digestMismatch`.
    public func read(_ digest: ContentDigest) throws -> Data {
        try checkOpen()
        return try objects.read(digest)
    }

    /// True if an object with this digest is present (by name; `read` verifies content).
    public func contains(_ digest: ContentDigest) throws -> Bool {
        try checkOpen()
        return try objects.size(of: digest) != nil
    }

    /// Where an object lives (whether or not it exists). Read-only: never write there.
    public func url(for digest: ContentDigest) -> URL {
        URL(fileURLWithPath: objects.path(for: digest), isDirectory: false)
    }

    // MARK: Internals shared by the extensions

    func checkOpen() throws {
        if closed.isSet { throw StoreError(.closed, "the adapter store in \(layout.root) was closed") }
    }

    /// A read on the catalog, with errors made into `StoreError`.
    func reading<T>(_ what: String, _ body: (Database) throws -> T) throws -> T {
        try checkOpen()
        return try Self.translatingErrors(what) { try pool.read(body) }
    }

    /// One write transaction, with errors made into `StoreError`.
    func writing<T>(_ what: String, _ body: (Database) throws -> T) throws -> T {
        try checkOpen()
        return try Self.translatingErrors(what) { try pool.write(body) }
    }

    static func translatingErrors<T>(_ what: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as StoreError {
            throw error
        } catch let error as DatabaseError {
            throw StoreError(.database, "catalog error while \(what): \(error.message ?? "\(error.resultCode)")")
        } catch {
            throw StoreError(.database, "catalog error while \(what): \(error)")
        }
    }

    private static func openCatalog(_ layout: StateLayout) throws -> DatabasePool {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.label = "adapterd.catalog"
        configuration.busyMode = .timeout(10)
        return try translatingErrors("opening \(layout.catalog)") {
            let pool = try DatabasePool(path: layout.catalog, configuration: configuration)
            // DatabasePool turns on WAL with synchronous=NORMAL; an acknowledged install must survive
            // power loss, so the (single) writer connection uses FULL.
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
            let migrator = CatalogSchema.migrator
            let superseded = try pool.read { try migrator.hasBeenSuperseded($0) }
            if superseded {
                throw StoreError(.schemaTooNew,
                                 "\(layout.catalog) was written by a newer adapterd (unknown catalog migrations); "
                                    + "refusing to open it")
            }
            try migrator.migrate(pool)
            return pool
        }
    }
}

/// A set-once flag.
final class ClosedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return value
    }

    /// Sets the flag; false if it was already set.
    func set() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if value { return false }
        value = true
        return true
    }
}
