import AdapterCore
import Foundation
import GRDB

/// Keys of settings the daemon keeps in the catalog.
public enum SettingKey {
    /// The byte budget of the served set: a decimal byte count, or `unlimited` (see `Budget`).
    public static let budgetBytes = "budget_bytes"
}

extension AdapterStore {
    /// The value of a setting, or nil if unset.
    public func setting(_ key: String) throws -> String? {
        try Self.validateSettingKey(key)
        return try reading("reading setting \(key)") { db in
            try String.fetchOne(db, sql: "SELECT value FROM settings WHERE key = ?", arguments: [key])
        }
    }

    /// Sets a setting (nil removes it). Durable when it returns.
    public func setSetting(_ key: String, to value: String?) throws {
        try Self.validateSettingKey(key)
        try writing("writing setting \(key)") { db in
            if let value {
                try db.execute(sql: """
                    INSERT INTO settings (key, value) VALUES (?, ?)
                    ON CONFLICT (key) DO UPDATE SET value = excluded.value
                    """, arguments: [key, value])
            } else {
                try db.execute(sql: "DELETE FROM settings WHERE key = ?", arguments: [key])
            }
        }
    }

    /// Every setting.
    public func settings() throws -> [String: String] {
        try reading("reading settings") { db in
            var result: [String: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT key, value FROM settings") {
                result[row["key"]] = row["value"] as String
            }
            return result
        }
    }

    /// The stored byte budget (`SettingKey.budgetBytes`), nil if none was set.
    public func storedBudget() throws -> Budget? {
        guard let text = try setting(SettingKey.budgetBytes) else { return nil }
        guard let budget = Self.budget(settingText: text) else {
            throw StoreError(.database, "the stored budget '\(text)' is not a byte count or 'unlimited'")
        }
        return budget
    }

    /// Stores the byte budget (nil removes it).
    public func setStoredBudget(_ budget: Budget?) throws {
        if case .bytes(let bytes)? = budget, bytes < 0 {
            throw StoreError(.invalidArgument, "a budget cannot be negative (\(bytes) bytes)")
        }
        try setSetting(SettingKey.budgetBytes, to: budget.map(Self.settingText))
    }

    /// The text a budget is stored as in the settings: the byte count, or `unlimited`.
    public static func settingText(_ budget: Budget) -> String {
        switch budget {
        case .unlimited: unlimitedSettingText
        case .bytes(let bytes): String(bytes)
        }
    }

    /// The stored text of an unlimited budget.
    static let unlimitedSettingText = "unlimited"

    /// The budget a stored text means, nil when it is neither a byte count nor `unlimited`.
    static func budget(settingText text: String) -> Budget? {
        if text == unlimitedSettingText { return .unlimited }
        guard let value = Int64(text), value >= 0 else { return nil }
        return .bytes(value)
    }

    static func validateSettingKey(_ key: String) throws {
        let bytes = Array(key.utf8)
        guard !bytes.isEmpty, bytes.count <= 128, bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            throw StoreError(.invalidName, "setting key \(String(reflecting: key)) must be 1–128 printable ASCII characters")
        }
    }
}
