import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The catalog lost, and what the store does about it, never deleting an object on a guess.
///
/// - **Deleted while open** (`CatalogWatch`): the store refuses every change from then on (it would
///   be lost at the next start) and saves a copy of the catalog it still has open as
///   `catalog.sqlite.rescued` (`VACUUM INTO`, fsynced). The next `open` restores that copy (the stale
///   `-wal`/`-shm` of the deleted file go to `lost+found/<time>/`), so a restart brings everything back.
/// - **Missing at open** (no rescued copy) or **empty** (a new or zeroed file) while the state
///   directory holds objects or generation directories: starting with an empty catalog would collect
///   every object as garbage. `open` refuses (`.catalogMissing`, naming what is there and how to
///   recover). With `OpenOptions.recoverCatalog` it moves the objects, the generation directories and
///   any catalog files to `lost+found/<time>/` (with a README saying what they are and how to install
///   them again) and starts with an empty catalog.
/// - A rescued copy found next to a catalog that holds nothing (an empty file put in place of the
///   deleted one) is restored over it (the empty file goes to `lost+found/`). Found next to a real
///   catalog (one put back by hand), it is stale: it is moved to `lost+found/`, so it can never be
///   restored over a newer catalog later.
enum CatalogRecovery {
    /// What a state directory holds that a catalog should account for.
    struct Inventory {
        var objects = 0
        var objectBytes = 0
        var generationDirectories = 0
        var journalBytes = 0

        var isEmpty: Bool { objects == 0 && generationDirectories == 0 && journalBytes == 0 }

        var description: String {
            var parts = ["\(objects) objects (\(objectBytes) bytes)"]
            if generationDirectories > 0 {
                parts.append("\(generationDirectories) generation director\(generationDirectories == 1 ? "y" : "ies")")
            }
            if journalBytes > 0 { parts.append("a write-ahead log of \(journalBytes) bytes") }
            return parts.joined(separator: ", ")
        }
    }

    /// Before the catalog is opened: restores a rescued copy if catalog.sqlite is missing, and refuses
    /// (or, with `recoverCatalog`, moves aside) what a missing catalog cannot account for.
    static func prepareCatalog(_ layout: StateLayout, options: AdapterStore.OpenOptions, notes: inout [String]) throws {
        if try FileSystem.status(layout.catalog) != nil { return }
        if try FileSystem.status(layout.catalogRescue) != nil {
            try restoreRescue(layout, replacing: [], notes: &notes)
            return
        }
        let inventory = try inventory(of: layout)
        guard !inventory.isEmpty else { return }   // a new state directory
        try refuseOrMoveAside(layout, inventory: inventory, options: options, what: "is missing", catalogFiles: false, notes: &notes)
    }

    /// Opens the catalog for writing and migrates it. A catalog that holds nothing yet (a new or
    /// zeroed file: no migration applied) while objects exist is treated like a missing one.
    static func openNonEmptyCatalog(_ layout: StateLayout, options: AdapterStore.OpenOptions,
                                    notes: inout [String]) throws -> DatabasePool {
        let existed = try FileSystem.status(layout.catalog) != nil
        var pool = try AdapterStore.openCatalogPool(layout)
        do {
            if existed {
                let applied = try AdapterStore.translatingErrors("reading \(layout.catalog)") {
                    try pool.read { try CatalogSchema.migrator.appliedIdentifiers($0) }
                }
                let rescued = try FileSystem.status(layout.catalogRescue) != nil
                // (Its write-ahead log is part of what was just opened: only the files count here.)
                var inventory = try inventory(of: layout)
                inventory.journalBytes = 0
                if applied.isEmpty && rescued {
                    // An empty file put where the catalog was deleted: the saved copy is the catalog.
                    try pool.close()
                    try restoreRescue(layout, replacing: ["catalog.sqlite"], notes: &notes)
                    pool = try AdapterStore.openCatalogPool(layout)
                } else if applied.isEmpty && !inventory.isEmpty {
                    try pool.close()
                    try refuseOrMoveAside(layout, inventory: inventory, options: options,
                                          what: "holds no catalog (an empty or new file)", catalogFiles: true, notes: &notes)
                    pool = try AdapterStore.openCatalogPool(layout)
                } else if rescued {
                    let batch = try makeBatch(layout)
                    try FileSystem.renameItem(layout.catalogRescue, to: batch + "/catalog.sqlite.rescued")
                    try FileSystem.syncDirectory(layout.root)
                    notes.append("a copy of the catalog saved earlier (\(layout.catalogRescue)) was found next to the catalog "
                                 + "in use and moved to \(batch)/, so that it is never restored over a newer catalog")
                }
            }
            try AdapterStore.migrate(pool, layout)
            return pool
        } catch {
            try? pool.close()
            throw error
        }
    }

    /// Opens the catalog read-only: normally, or (on a read-only file system, where SQLite cannot make
    /// the shared-memory file a WAL database needs) as an immutable file when there is no write-ahead
    /// log it would skip.
    static func openCatalogReadOnly(_ layout: StateLayout) throws -> DatabasePool {
        guard try FileSystem.status(layout.catalog) != nil else {
            throw StoreError(.catalogMissing, "\(layout.catalog) is missing and the state directory cannot be written; "
                                + "adapterd cannot start (see the README's Reliability section)")
        }
        let configuration = AdapterStore.catalogConfiguration(readOnly: true)
        let probe = { (pool: DatabasePool) throws in
            _ = try pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sqlite_master") }
        }
        let pool: DatabasePool
        do {
            let normal = try DatabasePool(path: layout.catalog, configuration: configuration)
            do {
                try probe(normal)
                pool = normal
            } catch {
                try? normal.close()
                throw error
            }
        } catch {
            let journal = try FileSystem.status(layout.catalog + "-wal")
            guard journal == nil || journal?.size == 0 else {
                throw StoreError(.database, "cannot open \(layout.catalog) read-only: \(error)")
            }
            pool = try AdapterStore.translatingErrors("opening \(layout.catalog) read-only") {
                let immutable = try DatabasePool(path: "file:" + uriEscaped(layout.catalog) + "?immutable=1",
                                                 configuration: configuration)
                try probe(immutable)
                return immutable
            }
        }
        do {
            try AdapterStore.refuseNewerSchema(pool, layout)
            let complete = try AdapterStore.translatingErrors("reading \(layout.catalog)") {
                try pool.read { try CatalogSchema.migrator.hasCompletedMigrations($0) }
            }
            guard complete else {
                throw StoreError(.readOnly, "\(layout.catalog) needs a schema migration, which a read-only state directory does not allow")
            }
        } catch {
            try? pool.close()
            throw error
        }
        return pool
    }

    // MARK: Internals

    /// Puts the saved copy in place of the catalog: `replacing` (files of the catalog in its way) and
    /// the journal of the lost file (its pages belong to that file, never to the copy) go to
    /// `lost+found/<time>/`.
    static func restoreRescue(_ layout: StateLayout, replacing: [String], notes: inout [String]) throws {
        var moved: [String] = []
        var batch: String?
        for name in replacing + ["catalog.sqlite-wal", "catalog.sqlite-shm"] where try FileSystem.status(layout.root + "/" + name) != nil {
            let directory = try batch ?? makeBatch(layout)
            batch = directory
            try FileSystem.renameItem(layout.root + "/" + name, to: directory + "/" + name)
            moved.append(name)
        }
        try FileSystem.renameItem(layout.catalogRescue, to: layout.catalog)
        try FileSystem.syncDirectory(layout.root)
        notes.append("restored the catalog from \(layout.catalogRescue), the copy saved when \(layout.catalog) was lost "
                     + "while adapterd ran" + (batch.map { " (\(moved.joined(separator: ", ")) moved to \($0)/)" } ?? ""))
    }

    static func refuseOrMoveAside(_ layout: StateLayout, inventory: Inventory, options: AdapterStore.OpenOptions,
                                  what: String, catalogFiles: Bool, notes: inout [String]) throws {
        guard options.recoverCatalog else {
            throw StoreError(.catalogMissing, """
                the catalog \(layout.catalog) \(what), but the state directory holds \(inventory.description): \
                starting with an empty catalog would delete them all as garbage, so adapterd refuses to start. \
                Restore catalog.sqlite (with its -wal file, if there was one) from a backup and start again; \
                or start once with --recover-catalog, which moves them to \(layout.lostAndFound)/<time>/ \
                (nothing is deleted) and starts with an empty catalog (the tasks must then be installed again)
                """)
        }
        let batch = try makeBatch(layout)
        var moved: [String] = []
        for name in ["objects", "generations"] {
            let path = layout.root + "/" + name
            guard try FileSystem.status(path) != nil else { continue }
            try FileSystem.renameItem(path, to: batch + "/" + name)
            try FileSystem.ensureDirectory(path)
            moved.append(name + "/")
        }
        let catalogNames = catalogFiles ? ["catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm"]
            : ["catalog.sqlite-wal", "catalog.sqlite-shm"]
        for name in catalogNames where try FileSystem.status(layout.root + "/" + name) != nil {
            try FileSystem.renameItem(layout.root + "/" + name, to: batch + "/" + name)
            moved.append(name)
        }
        try writeReadme(batch, inventory: inventory, what: what, catalogPath: layout.catalog)
        try FileSystem.syncDirectory(batch)
        try FileSystem.syncDirectory(layout.lostAndFound)
        try FileSystem.syncDirectory(layout.root)
        notes.append("the catalog \(layout.catalog) \(what); --recover-catalog moved \(inventory.description) "
                     + "(\(moved.joined(separator: ", "))) to \(batch)/ (see its README) and starts with an empty catalog")
    }

    /// What the state directory holds besides the catalog.
    static func inventory(of layout: StateLayout) throws -> Inventory {
        var result = Inventory()
        for object in try ObjectStore(layout: layout, damage: DamageRegistry()).inventory().objects {
            result.objects += 1
            result.objectBytes += object.size
        }
        result.generationDirectories = try FileSystem.entries(of: layout.generations).count
        result.journalBytes = try FileSystem.status(layout.catalog + "-wal")?.size ?? 0
        return result
    }

    /// A new directory `lost+found/<time>/` (0700).
    static func makeBatch(_ layout: StateLayout) throws -> String {
        try FileSystem.ensureDirectory(layout.lostAndFound)
        let stamp = Date().formatted(Date.ISO8601FormatStyle()).replacingOccurrences(of: ":", with: "-")
        var candidate = layout.lostAndFound + "/" + stamp
        var counter = 2
        while try FileSystem.status(candidate) != nil {
            candidate = layout.lostAndFound + "/" + stamp + "-\(counter)"
            counter += 1
        }
        try FileSystem.ensureDirectory(candidate)
        return candidate
    }

    static func writeReadme(_ batch: String, inventory: Inventory, what: String, catalogPath: String) throws {
        let text = """
            adapterd moved these files here at \(Date().formatted(Date.ISO8601FormatStyle())) because its catalog
            (\(catalogPath)) \(what) and adapterd was started with --recover-catalog.
            Nothing was deleted: \(inventory.description).

            objects/ab/abcd...  the stored files, each named by its SHA-256: adapter_config.json and
                                adapter_model.safetensors of installed adapters and of merged adapters,
                                and the tasks' examples (JSON Lines). `sha256sum` checks a file against
                                its name; `adapterctl inspect` shows what a safetensors file is.
            generations/<g>/<s>/ the PEFT directories of the served set at the time (hard links into
                                objects/): each can be installed again with
                                adapterctl install generations/<g>/<s> --task NAME --examples FILE
            catalog.sqlite*     the empty or stale catalog files found (if any).

            To bring the old state back instead, stop adapterd, restore catalog.sqlite from a backup,
            move objects/ and generations/ back into the state directory, and start adapterd.
            Delete this directory once nothing in it is needed.

            """
        let path = batch + "/README"
        let fd = try FileSystem.createExclusively(path, permissions: 0o600)
        defer { FileSystem.closeFile(fd) }
        try FileSystem.writeAll(fd, Data(text.utf8), path: path)
        try FileSystem.sync(fd, path: path)
    }

    /// A file path as the path of a `file:` URI (SQLite's URI filenames).
    static func uriEscaped(_ path: String) -> String {
        var result = ""
        for scalar in path.unicodeScalars {
            switch scalar {
            case "%": result += "%25"
            case "?": result += "%3f"
            case "#": result += "%23"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}

/// Whether the copy of a lost catalog was saved, and where (or why not).
final class CatalogRescueState: @unchecked Sendable {
    private let lock = NSLock()
    private var saved: String?
    private var failure: String?

    /// Runs `save` unless a copy was already saved; returns the copy's path, or nil and the failure.
    func saveOnce(_ save: () throws -> String) -> (path: String?, failure: String?) {
        lock.lock()
        defer { lock.unlock() }
        if let saved { return (saved, nil) }
        do {
            saved = try save()
            failure = nil
        } catch {
            failure = "\(error)"
        }
        return (saved, failure)
    }

    var state: (path: String?, failure: String?) {
        lock.lock()
        defer { lock.unlock() }
        return (saved, failure)
    }
}

extension AdapterStore {
    /// The sentence for a lost catalog: what happened, that changes are refused, and how it recovers.
    func catalogLostMessage(_ what: String) -> String {
        let (saved, failure) = catalogRescue.state
        if let saved {
            return "the catalog is lost: \(what); changes are refused (they would be lost at the next start). "
                + "A copy of the catalog as it is now was saved as \(saved): restart adapterd and it is restored, nothing lost"
        }
        return "the catalog is lost: \(what); changes are refused (they would be lost at the next start). "
            + "Saving a copy of it failed (\(failure ?? "not tried yet")); adapterd retries at every change and every status: "
            + "free space in \(layout.root) and do not stop adapterd before the copy is saved"
    }

    /// When the catalog file was deleted or replaced while open: saves a copy of the catalog still open
    /// (once) and returns the sentence saying so; nil while the catalog is fine.
    @discardableResult
    func rescueCatalogIfLost() -> String? {
        guard let what = catalogWatch.check() else { return nil }
        if catalogRescue.state.path == nil {
            _ = catalogRescue.saveOnce { try saveCatalogCopy() }
        }
        return catalogLostMessage(what)
    }

    /// `VACUUM INTO` a file in tmp/, fsynced, then renamed to `catalog.sqlite.rescued`.
    private func saveCatalogCopy() throws -> String {
        let temporary = layout.tmp + "/catalog-rescue-" + UUID().uuidString.lowercased() + ".sqlite"
        do {
            try Self.translatingErrors("saving a copy of the catalog") {
                try pool.writeWithoutTransaction { db in
                    try db.execute(sql: "VACUUM INTO ?", arguments: [temporary])
                }
            }
            let fd = try FileSystem.openForReading(temporary)
            defer { FileSystem.closeFile(fd) }
            try FileSystem.sync(fd, path: temporary)
            try FileSystem.renameItem(temporary, to: layout.catalogRescue)
            try FileSystem.syncDirectory(layout.root)
        } catch {
            try? FileSystem.removeFile(temporary)
            throw error
        }
        return layout.catalogRescue
    }
}
