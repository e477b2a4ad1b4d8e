import Foundation
import Testing
@testable import AdapterStore

@Suite("Task names: ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$, never a path")
struct TaskNameTests {
    @Test("accepted names", arguments: ["a", "Z", "7", "sentiment", "qa.v2", "my_task-1", "a..b", "x.", String(repeating: "n", count: 64)])
    func accepted(name: String) throws {
        #expect(TaskName.isValid(name))
        #expect(try TaskName.validate(name) == name)
    }

    @Test("refused names", arguments: [
        "", "../x", "..", ".", "/abs", "a/b", "a\\b", ".hidden", "-flag", "_x", "a b", " a", "a\n", "a\0b",
        String(repeating: "n", count: 65),
        "tâche", "ｆｕｌｌ", "a\u{0301}", "a\u{200B}b", "名前", "\u{202E}txt.exe", "ａ", "e\u{0338}",
    ])
    func refused(name: String) throws {
        #expect(!TaskName.isValid(name))
        let error = try #require(throws: StoreError.self) { try TaskName.validate(name) }
        #expect(error.code == .invalidName)
        #expect(!error.message.isEmpty)
    }

    @Test("the store refuses bad names everywhere and stores nothing for them")
    func storeRefuses() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        for name in ["../escape", "/etc/passwd", "", String(repeating: "x", count: 65), "ta\u{0301}sk"] {
            let error = try #require(throws: StoreError.self) {
                try store.installTask(name: name, examples: Data("{}".utf8), adapter: Sample.adapter(seed: 1), installedBy: 0)
            }
            #expect(error.code == .invalidName)
            #expect(throws: StoreError.self) { try store.task(named: name) }
            #expect(throws: StoreError.self) { try store.route(task: name) }
            #expect(throws: StoreError.self) { try store.removeTask(named: name) }
        }
        #expect(try store.tasks().isEmpty)
        #expect(try store.collectGarbage().removedObjects == 0, "nothing was written for refused names")
        #expect(try FileManager.default.contentsOfDirectory(atPath: temp.state.path + "/objects").isEmpty)
        #expect(try fileStatus(temp.url.path + "/escape") == nil)
    }
}
