import Foundation
import GRDB

extension AdapterStore {
    /// Records a refused adapter: the digest of its weights, the task name tried, the verdict, the
    /// time and the peer. Nothing else of it is stored. Durable when it returns.
    @discardableResult
    public func addQuarantine(weightsDigest: ContentDigest, task: String, verdict: VerdictRecord,
                              peerUID: UInt32, refusedAt: Date = Date()) throws -> QuarantineRecord {
        let verdictJSON = try CatalogCoding.json(try verdict.validated(), "the verdict")
        let shownTask = String(task.prefix(256))
        return try writing("recording a quarantined adapter") { db in
            try db.execute(
                sql: """
                    INSERT INTO quarantine (weights_digest, task, verdict_json, refused_at, peer_uid)
                    VALUES (?, ?, ?, ?, ?)
                    """,
                arguments: [weightsDigest.hex, shownTask, verdictJSON, refusedAt.timeIntervalSince1970,
                            Int64(peerUID)])
            // Read back, so the returned record equals what `quarantine()` lists (time precision included).
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM quarantine WHERE id = ?",
                                             arguments: [db.lastInsertedRowID]) else {
                throw StoreError(.database, "a quarantine record vanished inside its own transaction")
            }
            return try CatalogCoding.quarantine(row)
        }
    }

    /// Quarantine records, newest first (at most `limit` if given).
    public func quarantine(limit: Int? = nil) throws -> [QuarantineRecord] {
        try reading("listing the quarantine") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM quarantine ORDER BY id DESC LIMIT ?",
                             arguments: [limit.map { max(0, $0) } ?? -1])
                .map(CatalogCoding.quarantine)
        }
    }
}
