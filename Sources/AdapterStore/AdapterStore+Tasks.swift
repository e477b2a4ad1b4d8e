import AdapterCore
import Foundation
import GRDB

extension AdapterStore {
    /// Installs (or re-installs) a task with its examples and its accepted original adapter.
    ///
    /// The three blobs (examples, adapter_config.json, adapter_model.safetensors) are stored first,
    /// then one transaction records the adapter and points the task at it. Returns only once all of
    /// it is durable. Re-installing an existing task makes version n+1 and drops the old adapter's
    /// record; routes planned for the old version are never served again (`route(task:)` ignores
    /// them), and its files go at the next garbage collection unless something else references them.
    /// - Parameters:
    ///   - name: The task name (see `TaskName`).
    ///   - examples: The task's examples as JSONL bytes (stored as they are).
    ///   - adapter: The adapter's files and the facts the daemon computed about it.
    ///   - installedBy: The uid of the peer that asked.
    /// - Throws: `.invalidName`, `.invalidArgument`, `.io`, `.database`.
    @discardableResult
    public func installTask(name: String, examples: Data, adapter: AdapterSubmission,
                            installedBy uid: UInt32) throws -> InstalledTask {
        try checkOpen()
        try checkWritable()
        try TaskName.validate(name)
        guard adapter.rank >= 1 else {
            throw StoreError(.invalidArgument, "adapter rank must be at least 1, got \(adapter.rank)")
        }
        guard adapter.signature.allSatisfy(\.isFinite) else {
            throw StoreError(.invalidArgument, "the adapter's signature has non-finite values")
        }
        let signatureJSON = try CatalogCoding.json(adapter.signature, "the signature")
        let verdictJSON = try CatalogCoding.json(try adapter.verdict.validated(), "the verdict")

        let examplesDigest = ContentDigest.of(examples)
        let configDigest = ContentDigest.of(adapter.configJSON)
        let weightsDigest = adapter.weightsDigest ?? ContentDigest.of(adapter.weights)
        return try pins.withPinned([examplesDigest, configDigest, weightsDigest]) {
            _ = try objects.put(examples, digest: examplesDigest)
            _ = try objects.put(adapter.configJSON, digest: configDigest)
            _ = try objects.put(adapter.weights, digest: weightsDigest)
            let now = Date()
            return try writing("installing task \(name)") { db in
                let existing = try Row.fetchOne(
                    db, sql: "SELECT version, created_at FROM tasks WHERE name = ?", arguments: [name])
                let version = (existing.map { $0["version"] as Int } ?? 0) + 1
                let createdAt = existing.map { CatalogCoding.date($0, "created_at") } ?? now
                try db.execute(
                    sql: """
                        INSERT INTO adapters (task, version, config_digest, config_bytes, weights_digest,
                            weights_bytes, rank, dtype, base_model, profile_hash, signature_json, verdict_json,
                            installed_at, installed_by)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [name, version, configDigest.hex, adapter.configJSON.count, weightsDigest.hex,
                                adapter.weights.count, adapter.rank, adapter.dtype.rawValue, adapter.baseModel,
                                adapter.profileHash, signatureJSON, verdictJSON, now.timeIntervalSince1970,
                                Int64(uid)])
                let adapterID = db.lastInsertedRowID
                if existing == nil {
                    try db.execute(
                        sql: """
                            INSERT INTO tasks (name, version, created_at, examples_digest, examples_bytes,
                                current_adapter_id) VALUES (?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [name, version, createdAt.timeIntervalSince1970, examplesDigest.hex,
                                    examples.count, adapterID])
                } else {
                    try db.execute(
                        sql: """
                            UPDATE tasks SET version = ?, examples_digest = ?, examples_bytes = ?,
                                current_adapter_id = ? WHERE name = ?
                            """,
                        arguments: [version, examplesDigest.hex, examples.count, adapterID, name])
                    try db.execute(sql: "DELETE FROM adapters WHERE task = ? AND id != ?", arguments: [name, adapterID])
                }
                guard let row = try Row.fetchOne(db, sql: CatalogCoding.taskQuery + " WHERE t.name = ?",
                                                 arguments: [name]) else {
                    throw StoreError(.database, "task \(name) vanished inside its own install transaction")
                }
                return try CatalogCoding.task(row)
            }
        }
    }

    /// All installed tasks, by name.
    public func tasks() throws -> [InstalledTask] {
        try reading("listing tasks") { db in
            try Row.fetchAll(db, sql: CatalogCoding.taskQuery + " ORDER BY t.name").map(CatalogCoding.task)
        }
    }

    /// The task with this name, or nil. Throws `.invalidName` for a name that breaks the rules.
    public func task(named name: String) throws -> InstalledTask? {
        try TaskName.validate(name)
        return try reading("looking up task \(name)") { db in
            try Row.fetchOne(db, sql: CatalogCoding.taskQuery + " WHERE t.name = ?", arguments: [name])
                .map(CatalogCoding.task)
        }
    }

    /// The examples (JSONL bytes) of an installed task, verified against their digest.
    public func examples(of task: InstalledTask) throws -> Data {
        try read(task.examplesDigest)
    }

    /// Removes a task and its adapter record. Its routes in the current generation stop being served
    /// at once; its files go at the next garbage collection unless a generation still uses them.
    /// - Returns: The task as it was.
    /// - Throws: `.taskNotFound` if there is no such task, `.invalidName`.
    @discardableResult
    public func removeTask(named name: String) throws -> InstalledTask {
        try TaskName.validate(name)
        return try writing("removing task \(name)") { db in
            guard let row = try Row.fetchOne(db, sql: CatalogCoding.taskQuery + " WHERE t.name = ?",
                                             arguments: [name]) else {
                throw StoreError(.taskNotFound, "no task named '\(name)' is installed")
            }
            let task = try CatalogCoding.task(row)
            try db.execute(sql: "DELETE FROM tasks WHERE name = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM adapters WHERE task = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM input_sketches WHERE task = ?", arguments: [name])
            return task
        }
    }
}
