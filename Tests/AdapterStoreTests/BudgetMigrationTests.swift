import AdapterCore
import Foundation
import GRDB
import Testing
@testable import AdapterStore

/// The catalog stores an unlimited budget explicitly; catalogs from before (unlimited written as
/// Int64.max in `generations.budget_bytes` and in the `budget_bytes` setting) are migrated on open.
@Suite("Budget migration")
struct BudgetMigrationTests {
    static let oldUnlimited = Int64.max

    @Test("a catalog of the first schema: Int64.max budgets become unlimited, byte budgets stay")
    func migratesTheOldSentinel() throws {
        let temp = try TemporaryDirectory()
        let layout = try StateLayout.prepare(temp.state)
        do {
            let pool = try DatabasePool(path: layout.catalog)
            try CatalogSchema.migrator.migrate(pool, upTo: "v1: tasks, adapters, quarantine, generations, settings")
            try pool.write { db in
                try db.execute(sql: """
                    INSERT INTO generations (state, created_at, retired_at, budget_bytes, evaluator, plan_summary_json)
                    VALUES ('retired', 1, 2, 5000, 'weights', '{}');
                    INSERT INTO generations (state, created_at, committed_at, budget_bytes, evaluator, plan_summary_json)
                    VALUES ('current', 3, 4, ?, 'weights', '{}');
                    INSERT INTO settings (key, value) VALUES ('budget_bytes', ?);
                    """, arguments: [Self.oldUnlimited, String(Self.oldUnlimited)])
            }
            try pool.close()
        }
        let store = try AdapterStore.open(stateDirectory: temp.state)
        #expect(try store.storedBudget() == .unlimited)
        #expect(try store.setting(SettingKey.budgetBytes) == "unlimited")
        let generations = try store.generations().sorted { $0.id < $1.id }
        #expect(generations.map(\.budget) == [.bytes(5000), .unlimited])
        #expect(try store.currentGeneration()?.budget == .unlimited)
    }

    @Test("a byte budget setting of the first schema is kept as it was")
    func keepsAByteBudgetSetting() throws {
        let temp = try TemporaryDirectory()
        let layout = try StateLayout.prepare(temp.state)
        do {
            let pool = try DatabasePool(path: layout.catalog)
            try CatalogSchema.migrator.migrate(pool, upTo: "v1: tasks, adapters, quarantine, generations, settings")
            try pool.write { db in
                try db.execute(sql: "INSERT INTO settings (key, value) VALUES ('budget_bytes', '9000')")
            }
            try pool.close()
        }
        let store = try AdapterStore.open(stateDirectory: temp.state)
        #expect(try store.storedBudget() == .bytes(9000))
    }

    @Test("an unlimited generation and setting round-trip without a sentinel")
    func storesUnlimitedExplicitly() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        try store.setStoredBudget(.unlimited)
        #expect(try store.setting(SettingKey.budgetBytes) == "unlimited")
        #expect(try store.storedBudget() == .unlimited)
        let generation = try store.beginGeneration(budget: .unlimited, evaluator: "weights", planSummary: ["k": 1])
        #expect(generation.budget == .unlimited)
        #expect(try store.generation(id: generation.id)?.budget == .unlimited)
        #expect(throws: StoreError.self) {
            try store.beginGeneration(budget: .bytes(-1), evaluator: "weights", planSummary: ["k": 1])
        }
    }
}
