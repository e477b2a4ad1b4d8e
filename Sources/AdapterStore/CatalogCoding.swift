import AdapterCore
import Foundation
import GRDB

/// JSON columns and row → record conversions shared by the catalog code.
enum CatalogCoding {
    static func json<T: Encodable>(_ value: T, _ what: String) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            return String(decoding: try encoder.encode(value), as: UTF8.self)
        } catch {
            throw StoreError(.invalidArgument, "cannot encode \(what) as JSON: \(error)")
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String, _ what: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(text.utf8))
        } catch {
            throw StoreError(.database, "the catalog's \(what) is not valid JSON for \(T.self): \(error)")
        }
    }

    /// A text column naming a case of `T`; `what` says whose it is in the error ("generation 4's state").
    static func named<T: RawRepresentable>(_ row: Row, _ column: String, _ what: String) throws -> T
    where T.RawValue == String {
        let text: String = row[column]
        guard let value = T(rawValue: text) else {
            throw StoreError(.database, "the catalog has an unknown \(what) '\(text)'")
        }
        return value
    }

    static func digest(_ row: Row, _ column: String) throws -> ContentDigest {
        let text: String = row[column]
        guard let digest = ContentDigest(hex: text) else {
            throw StoreError(.database, "the catalog's \(column) '\(text)' is not a SHA-256 digest")
        }
        return digest
    }

    static func date(_ row: Row, _ column: String) -> Date {
        Date(timeIntervalSince1970: row[column])
    }

    static func optionalDate(_ row: Row, _ column: String) -> Date? {
        (row[column] as Double?).map { Date(timeIntervalSince1970: $0) }
    }

    /// Columns of `adapters` selected with an `a_` prefix, so they can be joined with `tasks`.
    static let adapterColumns = """
        a.id AS a_id, a.task AS a_task, a.version AS a_version, a.config_digest AS a_config_digest,
        a.config_bytes AS a_config_bytes, a.weights_digest AS a_weights_digest,
        a.weights_bytes AS a_weights_bytes, a.rank AS a_rank, a.dtype AS a_dtype,
        a.base_model AS a_base_model, a.profile_hash AS a_profile_hash,
        a.signature_json AS a_signature_json, a.verdict_json AS a_verdict_json,
        a.installed_at AS a_installed_at, a.installed_by AS a_installed_by
        """

    static func adapter(_ row: Row) throws -> InstalledAdapter {
        let dtype: DType = try named(row, "a_dtype", "adapter dtype")
        let configBytes: Int = row["a_config_bytes"]
        let weightsBytes: Int = row["a_weights_bytes"]
        return InstalledAdapter(
            id: row["a_id"], task: row["a_task"], version: row["a_version"],
            configDigest: try digest(row, "a_config_digest"), configBytes: configBytes,
            weightsDigest: try digest(row, "a_weights_digest"), weightsBytes: weightsBytes,
            bytes: configBytes + weightsBytes, rank: row["a_rank"], dtype: dtype,
            baseModel: row["a_base_model"], profileHash: row["a_profile_hash"],
            signature: try decode([Double].self, row["a_signature_json"], "adapter signature"),
            verdict: try decode(VerdictRecord.self, row["a_verdict_json"], "adapter verdict"),
            installedAt: date(row, "a_installed_at"), installedBy: row["a_installed_by"])
    }

    static let taskQuery = """
        SELECT t.name, t.version, t.created_at, t.examples_digest, t.examples_bytes, \(adapterColumns)
        FROM tasks t JOIN adapters a ON a.id = t.current_adapter_id
        """

    static func task(_ row: Row) throws -> InstalledTask {
        InstalledTask(
            name: row["name"], version: row["version"], createdAt: date(row, "created_at"),
            examplesDigest: try digest(row, "examples_digest"), examplesBytes: row["examples_bytes"],
            adapter: try adapter(row))
    }

    static func quarantine(_ row: Row) throws -> QuarantineRecord {
        QuarantineRecord(
            id: row["id"], weightsDigest: try digest(row, "weights_digest"), task: row["task"],
            verdict: try decode(VerdictRecord.self, row["verdict_json"], "quarantine verdict"),
            refusedAt: date(row, "refused_at"), peerUID: row["peer_uid"])
    }
}
