import Foundation
import Testing
@testable import AdapterStore

@Suite("Settings")
struct SettingsTests {
    @Test("set, overwrite, remove, survive reopening")
    func settings() throws {
        let temp = try TemporaryDirectory()
        do {
            let store = try AdapterStore.open(stateDirectory: temp.state)
            #expect(try store.setting("evaluator") == nil)
            try store.setSetting("evaluator", to: "weights")
            try store.setSetting("evaluator", to: "command")
            try store.setSetting("gone", to: "soon")
            try store.setSetting("gone", to: nil)
            try store.setStoredBudget(.bytes(123_456_789))
            try store.close()
        }
        let store = try AdapterStore.open(stateDirectory: temp.state)
        #expect(try store.setting("evaluator") == "command")
        #expect(try store.setting("gone") == nil)
        #expect(try store.storedBudget() == .bytes(123_456_789))
        #expect(try store.settings() == ["evaluator": "command", SettingKey.budgetBytes: "123456789"])
        try store.setStoredBudget(nil)
        #expect(try store.storedBudget() == nil)
        #expect(throws: StoreError.self) { try store.setStoredBudget(.bytes(-1)) }
        #expect(throws: StoreError.self) { try store.setSetting("", to: "x") }
        #expect(throws: StoreError.self) { try store.setSetting("bad key", to: "x") }
        try store.setSetting(SettingKey.budgetBytes, to: "lots")
        #expect(throws: StoreError.self) { try store.storedBudget() }
    }
}
