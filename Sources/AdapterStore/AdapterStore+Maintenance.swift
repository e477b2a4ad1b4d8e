import Foundation
import GRDB

/// What a garbage collection removed.
public struct GarbageCollectionReport: Hashable, Sendable, Codable {
    /// Objects no catalog record referenced.
    public var removedObjects: Int
    /// Their total size.
    public var removedBytes: Int
    /// Misnamed or misplaced entries under objects/ (e.g. links or stray files).
    public var removedStrayEntries: Int
    /// Directories of retired or unknown generations.
    public var removedGenerationDirectories: Int
}

/// What `integrityCheck()` found; healthy when `problems` is empty.
public struct IntegrityReport: Hashable, Sendable, Codable {
    /// One sentence per problem.
    public var problems: [String]
    /// Number of referenced objects whose size and digest were checked.
    public var checkedObjects: Int

    public var isHealthy: Bool { problems.isEmpty }
}

extension AdapterStore {
    /// Removes objects nothing references, stray entries under objects/, and directories of retired
    /// generations. Referenced means: the examples and original files of every installed task, and the
    /// files of every building or current generation (plus files an install or generation call in
    /// progress has written but not yet recorded). Runs at open and after each generation switch.
    @discardableResult
    public func collectGarbage() throws -> GarbageCollectionReport {
        try collectGarbage(pruningEmptyDirectories: false)
    }

    /// Empty fan-out directories are pruned only at open, when no put can be creating one concurrently.
    func collectGarbage(pruningEmptyDirectories: Bool) throws -> GarbageCollectionReport {
        try checkOpen()
        // Never with a catalog deleted while open: what it no longer shows is not garbage.
        try checkWritable()
        return try pins.whileFrozen { pinned in
            let (referenced, retired) = try reading("collecting garbage") { db in
                (try Self.referencedObjects(db), try Int64.fetchAll(db, sql: "SELECT id FROM generations WHERE state = 'retired'"))
            }
            var report = GarbageCollectionReport(removedObjects: 0, removedBytes: 0, removedStrayEntries: 0,
                                                 removedGenerationDirectories: 0)
            let inventory = try objects.inventory()
            for stray in inventory.junk {
                try FileSystem.removeTree(stray)
                report.removedStrayEntries += 1
            }
            for object in inventory.objects where referenced[object.digest] == nil && !pinned.contains(object.digest) {
                try FileSystem.removeFile(object.path)
                report.removedObjects += 1
                report.removedBytes += object.size
            }
            if pruningEmptyDirectories { objects.pruneEmptyDirectories() }
            // Damage of an object nothing references any more no longer matters (its copy stays in damaged/).
            for known in damage.all where referenced[known.digest] == nil && !pinned.contains(known.digest) {
                damage.clear(known.digest)
            }
            for id in retired where try FileSystem.status(layout.generationDirectory(id)) != nil {
                try FileSystem.removeTree(layout.generationDirectory(id))
                report.removedGenerationDirectories += 1
            }
            return report
        }
    }

    /// Checks the catalog (`PRAGMA integrity_check`, `PRAGMA foreign_key_check`) and every referenced
    /// object: present, a regular file, the recorded size, and hashing to its name. Also checks that
    /// the current generation's PEFT directories hold the right files. Reads every referenced byte.
    public func integrityCheck() throws -> IntegrityReport {
        let (pragmaRows, foreignKeyRows, referenced, current) = try reading("checking integrity") { db in
            (try String.fetchAll(db, sql: "PRAGMA integrity_check"),
             try Row.fetchAll(db, sql: "PRAGMA foreign_key_check"),
             try Self.referencedObjects(db),
             try Int64.fetchOne(db, sql: "SELECT id FROM generations WHERE state = 'current'")
                .flatMap { try loadGeneration($0, db) })
        }
        var problems: [String] = []
        if pragmaRows != ["ok"] {
            problems += pragmaRows.map { "catalog: \($0)" }
        }
        for row in foreignKeyRows {
            problems.append("catalog: a row of \(row["table"] as String? ?? "?") refers to a missing row of "
                            + "\(row["parent"] as String? ?? "?")")
        }
        for (digest, expectedSize) in referenced.sorted(by: { $0.key < $1.key }) {
            let path = objects.path(for: digest)
            guard let info = try FileSystem.status(path) else {
                problems.append("object \(digest) is referenced by the catalog but missing")
                continue
            }
            guard info.isRegularFile else {
                problems.append("object \(digest) is \(info.typeDescription), not a regular file")
                continue
            }
            if info.size != expectedSize {
                problems.append("object \(digest) has \(info.size) bytes; the catalog records \(expectedSize)")
                continue
            }
            do {
                _ = try objects.read(digest)
            } catch let error as StoreError {
                problems.append(error.message)
            }
        }
        for served in current?.servedAdapters ?? [] {
            for (name, digest) in [("adapter_config.json", served.configDigest),
                                   ("adapter_model.safetensors", served.weightsDigest)] {
                let path = served.directory.path + "/" + name
                guard let info = try FileSystem.status(path), info.isRegularFile else {
                    problems.append("served adapter \(served.id) of generation \(served.generationID) lacks \(path)")
                    continue
                }
                let expected = digest == served.configDigest ? served.configBytes : served.weightsBytes
                if info.size != expected {
                    problems.append("\(path) has \(info.size) bytes instead of \(expected)")
                }
            }
        }
        return IntegrityReport(problems: problems, checkedObjects: referenced.count)
    }

    /// Bytes of the installed tasks' originals (examples + adapter files), each distinct object once.
    /// Shown as "archive"; not counted against the budget.
    public func archiveBytes() throws -> Int {
        try reading("measuring the archive") { db in
            try Int.fetchOne(db, sql: """
                SELECT COALESCE(SUM(bytes), 0) FROM (
                    SELECT examples_digest AS digest, examples_bytes AS bytes FROM tasks
                    UNION SELECT config_digest, config_bytes FROM adapters
                    UNION SELECT weights_digest, weights_bytes FROM adapters)
                """) ?? 0
        }
    }

    // MARK: Internals

    /// Digest → recorded size of every object the catalog references.
    static func referencedObjects(_ db: Database) throws -> [ContentDigest: Int] {
        let rows = try Row.fetchAll(db, sql: """
            SELECT examples_digest AS digest, examples_bytes AS bytes FROM tasks
            UNION SELECT config_digest, config_bytes FROM adapters
            UNION SELECT weights_digest, weights_bytes FROM adapters
            UNION SELECT s.config_digest, s.config_bytes FROM served_adapters s
                JOIN generations g ON g.id = s.generation_id WHERE g.state IN ('building', 'current')
            UNION SELECT s.weights_digest, s.weights_bytes FROM served_adapters s
                JOIN generations g ON g.id = s.generation_id WHERE g.state IN ('building', 'current')
            """)
        var result: [ContentDigest: Int] = [:]
        for row in rows {
            result[try CatalogCoding.digest(row, "digest")] = row["bytes"]
        }
        return result
    }

    /// `recoverAtOpen`, retried with the space reserve released when the disk is full (the clean-up
    /// itself may need a few pages).
    func recoverAtOpenUsingReserve() throws {
        do {
            try recoverAtOpen()
        } catch {
            guard releaseSpaceReserve() else { throw error }
            try recoverAtOpen()
        }
    }

    /// Start-up recovery: drop generations that were never committed, remove generation directories
    /// that are not the current generation's, rebuild the current one's if missing, then collect garbage.
    func recoverAtOpen() throws {
        // (Only when there is one: on a full disk even an empty write transaction may fail.)
        let building = try reading("looking for unfinished generations") { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM generations WHERE state = 'building'") ?? 0
        }
        if building > 0 {
            try writing("removing unfinished generations") { db in
                try db.execute(sql: "DELETE FROM generations WHERE state = 'building'")
            }
        }
        let current = try currentGeneration()
        for name in try FileSystem.entries(of: layout.generations) where name != current.map({ String($0.id) }) {
            try FileSystem.removeTree(layout.generations + "/" + name)
        }
        if let current {
            // A served adapter whose objects are damaged cannot be rebuilt; integrityCheck() reports it,
            // and the store still opens so the daemon can serve the rest and re-plan.
            for served in current.servedAdapters {
                try? materialise(served)
            }
        }
        try FileSystem.syncDirectory(layout.generations)
        checkObjectSizes()
        _ = try collectGarbage(pruningEmptyDirectories: true)
    }
}
