import Foundation
import GRDB

extension AdapterStore {
    /// Puts a task back as it was before a re-install or a removal: its previous adapter record (same
    /// id, so the routes planned for it are served again) and its examples, dropping a newer version's
    /// record (and adding the task again if it was removed).
    ///
    /// For an install or a removal whose served set could not be written: the client is told that
    /// nothing changed, so the catalog must say so too. The previous version's objects must still be
    /// stored (they are until the next garbage collection, which only a committed generation runs).
    /// - Parameter previous: The task as `task(named:)` returned it before the change.
    /// - Throws: `.io` if an object is missing, `.database`.
    public func restoreTask(_ previous: InstalledTask) throws {
        try checkOpen()
        try TaskName.validate(previous.name)
        let adapter = previous.adapter
        for digest in [previous.examplesDigest, adapter.configDigest, adapter.weightsDigest] {
            guard FileManager.default.fileExists(atPath: url(for: digest).path) else {
                throw StoreError(.io, "object \(digest.hex) of task \(previous.name) version \(previous.version) is gone")
            }
        }
        let signatureJSON = try CatalogCoding.json(adapter.signature, "the signature")
        let verdictJSON = try CatalogCoding.json(adapter.verdict, "the verdict")
        try writing("restoring task \(previous.name) version \(previous.version)") { db in
            try db.execute(sql: "DELETE FROM adapters WHERE task = ?", arguments: [previous.name])
            try db.execute(
                sql: """
                    INSERT INTO adapters (id, task, version, config_digest, config_bytes, weights_digest,
                        weights_bytes, rank, dtype, base_model, profile_hash, signature_json, verdict_json,
                        installed_at, installed_by)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [adapter.id, previous.name, previous.version, adapter.configDigest.hex, adapter.configBytes,
                            adapter.weightsDigest.hex, adapter.weightsBytes, adapter.rank, adapter.dtype.rawValue,
                            adapter.baseModel, adapter.profileHash, signatureJSON, verdictJSON,
                            adapter.installedAt.timeIntervalSince1970, Int64(adapter.installedBy)])
            try db.execute(
                sql: """
                    INSERT INTO tasks (name, version, created_at, examples_digest, examples_bytes, current_adapter_id)
                    VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (name) DO UPDATE SET version = excluded.version, created_at = excluded.created_at,
                        examples_digest = excluded.examples_digest, examples_bytes = excluded.examples_bytes,
                        current_adapter_id = excluded.current_adapter_id
                    """,
                arguments: [previous.name, previous.version, previous.createdAt.timeIntervalSince1970,
                            previous.examplesDigest.hex, previous.examplesBytes, adapter.id])
        }
    }
}
