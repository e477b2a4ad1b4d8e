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
/// The state directory is the user's data, and nothing in it is deleted on a guess: a catalog that
/// is missing while objects exist stops `open` (`AdapterStore+CatalogRecovery`), a catalog deleted
/// while open stops every change (`CatalogWatch`), damaged objects are set aside, not deleted
/// (`AdapterStore+Damage`), and a store that cannot write (read-only file system, full disk) opens
/// read-only and refuses changes with `.readOnly` (`AdapterStore+Writability`).
///
/// The API at a glance (all calls synchronous and throwing `StoreError`):
/// - life cycle: `open(stateDirectory:options:)`, `close()`, `openNotes`
/// - objects: `put(_:)`, `read(_:)`, `contains(_:)`, `url(for:)`
/// - tasks: `installTask(name:examples:adapter:installedBy:)`, `tasks()`, `task(named:)`,
///   `examples(of:)`, `removeTask(named:)`
/// - quarantine: `addQuarantine(weightsDigest:task:verdict:peerUID:refusedAt:)`, `quarantine(limit:)`
/// - generations: `beginGeneration(budget:evaluator:planSummary:)`, `addServedAdapter(_:to:)`,
///   `addServedAdapter(servingOwnAdapterOf:scale:to:)`, `commitGeneration(_:routes:settings:)`, `abandonGeneration(_:)`, `currentGeneration()`, `generation(id:)`,
///   `generations()`, `servedAdapter(id:)`, `route(task:)`
/// - settings: `setting(_:)`, `setSetting(_:to:)`, `settings()`, `storedBudget()`, `setStoredBudget(_:)`
/// - accounting and upkeep: `archiveBytes()`, `servedBytes()`, `collectGarbage()`, `integrityCheck()`
/// - health: `readOnlyReason()`, `prepareForChange()`, `verify(progress:)`, `damagedObjects()`
public final class AdapterStore: Sendable {
    /// The state directory (absolute).
    public let stateDirectory: URL

    /// What `open` did beyond the usual (a catalog restored, objects moved aside), one sentence each,
    /// for the daemon's log.
    public let openNotes: [String]

    let layout: StateLayout
    let objects: ObjectStore
    let pool: DatabasePool
    let pins = PinSet()
    let damage: DamageRegistry
    /// Watches catalog.sqlite for deletion while the store has it open.
    let catalogWatch: CatalogWatch
    /// Why the store was opened read-only (nil: it was opened for writing).
    let openedReadOnlyBecause: String?
    /// The copy of the catalog saved after it was lost (AdapterStore+CatalogRecovery).
    let catalogRescue = CatalogRescueState()
    /// The start-up clean-up, when a full disk made `open` postpone it (AdapterStore+Writability).
    let startUpCleanUp = PostponedCleanUp()
    private let directoryLock: StateDirectoryLock
    private let closed = ClosedFlag()

    /// How `open` treats a state directory in trouble.
    public struct OpenOptions: Sendable, Hashable {
        /// When the catalog is missing (or empty) while objects exist: move the objects (and generation
        /// directories, and an empty catalog's files) to `lost+found/<time>/` and start with an empty
        /// catalog, instead of refusing to open (`.catalogMissing`). Nothing is deleted.
        public var recoverCatalog: Bool

        public init(recoverCatalog: Bool = false) {
            self.recoverCatalog = recoverCatalog
        }
    }

    /// Opens (creating if needed) the store in `stateDirectory`.
    ///
    /// Checks the directory (a real directory owned by this user, made 0700; no symbolic links where
    /// the store keeps files), takes an exclusive lock on it, restores a catalog saved after it was
    /// deleted while open (or refuses a missing catalog while objects exist, see `OpenOptions`), runs
    /// catalog migrations, then removes leftovers of an interrupted process (tmp files, generations
    /// never committed, unreferenced objects), rebuilds the current generation's directories if any
    /// are missing, and checks the size of every referenced object (a wrong size is damage: set aside).
    ///
    /// When that cannot be written (read-only file system; a disk too full even with the space
    /// reserve released), the store opens read-only instead: it serves what it has and refuses
    /// changes with `.readOnly` (see `readOnlyReason()`).
    /// - Throws: `StoreError` (`.unsafeStateDirectory`, `.symlinkRefused`, `.stateDirectoryInUse`,
    ///   `.catalogMissing`, `.schemaTooNew`, `.database`, `.io`).
    public static func open(stateDirectory: URL, options: OpenOptions = OpenOptions()) throws -> AdapterStore {
        let layout = try StateLayout.prepare(stateDirectory)
        let lock = try StateDirectoryLock(path: layout.lockFile)
        var notes: [String] = []
        do {
            for name in try FileSystem.entries(of: layout.tmp) {
                try FileSystem.removeTree(layout.tmp + "/" + name)
            }
            try CatalogRecovery.prepareCatalog(layout, options: options, notes: &notes)
            let pool = try CatalogRecovery.openNonEmptyCatalog(layout, options: options, notes: &notes)
            let store = try AdapterStore(layout: layout, pool: pool, lock: lock, notes: notes, readOnlyBecause: nil)
            do {
                try store.recoverAtOpenUsingReserve()
            } catch let error as StoreError where error.code == .diskFull {
                // Too full even with the reserve released: serve what there is; the clean-up is
                // finished before the next change, once there is room (`prepareForChange()`).
                store.startUpCleanUp.postpone(because: error.message)
            } catch {
                store.catalogWatch.close()
                try? store.pool.close()
                throw error
            }
            store.ensureSpaceReserve()
            return store
        } catch let error as StoreError where ![.catalogMissing, .schemaTooNew, .stateDirectoryInUse].contains(error.code) {
            guard let reason = readOnlyCause(of: error, layout: layout) else { throw error }
            return try openReadOnly(layout, lock: lock, reason: reason, notes: notes)
        }
    }

    /// Takes over `pool`: it is closed when the store cannot be made.
    private init(layout: StateLayout, pool: DatabasePool, lock: StateDirectoryLock, notes: [String],
                 readOnlyBecause: String?) throws {
        self.layout = layout
        self.stateDirectory = URL(fileURLWithPath: layout.root, isDirectory: true)
        let damage = DamageRegistry()
        self.damage = damage
        self.objects = ObjectStore(layout: layout, damage: damage)
        self.pool = pool
        self.directoryLock = lock
        self.openNotes = notes
        self.openedReadOnlyBecause = readOnlyBecause
        do {
            self.catalogWatch = try CatalogWatch(path: layout.catalog)
        } catch {
            try? pool.close()
            throw error
        }
    }

    /// Opens the catalog read-only (reads only; `readOnlyReason()` says why) and checks the sizes
    /// of the referenced objects. Nothing in the state directory is changed.
    private static func openReadOnly(_ layout: StateLayout, lock: StateDirectoryLock, reason: String,
                                     notes: [String]) throws -> AdapterStore {
        let pool = try CatalogRecovery.openCatalogReadOnly(layout)
        let store = try AdapterStore(layout: layout, pool: pool, lock: lock, notes: notes, readOnlyBecause: reason)
        store.checkObjectSizes()
        return store
    }

    /// Why a failed open could still open read-only: the file system is read-only, or the disk is
    /// full; nil for any other failure (which is then reported as it is).
    private static func readOnlyCause(of error: StoreError, layout: StateLayout) -> String? {
        if FileSystem.space(of: layout.root).readOnly {
            return "the state directory \(layout.root) is on a read-only file system"
        }
        if error.code == .diskFull {
            return "disk full: adapterd could not finish opening \(layout.root) for writing (\(error.message)); "
                + "free space on that file system, then restart adapterd"
        }
        return nil
    }

    /// Closes the catalog and releases the state directory. Later calls throw `.closed`.
    /// (Dropping the last reference does the same.)
    public func close() throws {
        guard closed.set() else { return }
        catalogWatch.close()
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
        try checkWritable()
        return try objects.put(data)
    }

    /// Reads an object, verifying its digest. Throws `.objectMissing` or `.digestMismatch`; an object
    /// found damaged is recorded and set aside (`damagedObjects()`).
    public func read(_ digest: ContentDigest) throws -> Data {
        try checkOpen()
        do {
            return try objects.read(digest)
        } catch let error as StoreError where error.code == .digestMismatch {
            noteDamaged(digest)
            throw error
        }
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

    /// One write transaction, with errors made into `StoreError`. Refused (`.readOnly`,
    /// `.catalogLost`) when the store cannot write or its catalog was deleted while open.
    func writing<T>(_ what: String, _ body: (Database) throws -> T) throws -> T {
        try checkOpen()
        try checkWritable()
        return try Self.translatingErrors(what) { try pool.write(body) }
    }

    static func translatingErrors<T>(_ what: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as StoreError {
            throw error
        } catch let error as DatabaseError {
            let text = error.message ?? "\(error.resultCode)"
            switch error.resultCode {
            case .SQLITE_FULL:
                throw StoreError(.diskFull, "disk full: catalog error while \(what): \(text)")
            case .SQLITE_READONLY:
                throw StoreError(.readOnly, "read-only: catalog error while \(what): \(text)")
            default:
                throw StoreError(.database, "catalog error while \(what): \(text)")
            }
        } catch {
            throw StoreError(.database, "catalog error while \(what): \(error)")
        }
    }

    /// The configuration of the catalog's connections.
    static func catalogConfiguration(readOnly: Bool) -> Configuration {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.label = "adapterd.catalog"
        configuration.busyMode = .timeout(10)
        configuration.readonly = readOnly
        return configuration
    }

    /// Opens the catalog for writing (creating it if needed), without migrating it.
    static func openCatalogPool(_ layout: StateLayout) throws -> DatabasePool {
        try translatingErrors("opening \(layout.catalog)") {
            let pool = try DatabasePool(path: layout.catalog, configuration: catalogConfiguration(readOnly: false))
            // DatabasePool turns on WAL with synchronous=NORMAL; an acknowledged install must survive
            // power loss, so the (single) writer connection uses FULL.
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
            return pool
        }
    }

    /// Brings an open catalog to this build's schema; refuses one written by a newer adapterd.
    static func migrate(_ pool: DatabasePool, _ layout: StateLayout) throws {
        try translatingErrors("migrating \(layout.catalog)") {
            try refuseNewerSchema(pool, layout)
            try CatalogSchema.migrator.migrate(pool)
        }
    }

    static func refuseNewerSchema(_ pool: DatabasePool, _ layout: StateLayout) throws {
        let superseded = try translatingErrors("reading \(layout.catalog)") {
            try pool.read { try CatalogSchema.migrator.hasBeenSuperseded($0) }
        }
        if superseded {
            throw StoreError(.schemaTooNew,
                             "\(layout.catalog) was written by a newer adapterd (unknown catalog migrations); "
                                + "refusing to open it")
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
