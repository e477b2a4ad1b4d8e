import Foundation
import Testing
@testable import AdapterStore

/// Damaged objects are found (open: sizes; read: hash; verify: every hash), set aside under damaged/
/// (never deleted), known across reopening, and repaired by putting the right bytes again.
@Suite("Damaged objects")
struct DamagedObjectTests {
    static func flipBit(_ path: String) throws {
        chmod(path, 0o600)
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        data[data.count / 2] ^= 0x04
        try overwrite(path, with: data)
    }

    @Test("verify finds a flipped bit, sets the object aside, and a put of the right bytes repairs it")
    func verifyAndRepair() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        let submission = Sample.adapter(seed: 1)
        let task = try store.installTask(name: "a", examples: Sample.examples("a"), adapter: submission, installedBy: 1)
        try Sample.install(store, "b", seed: 2)
        let clean = try store.verify()
        #expect(clean.damaged.isEmpty)
        #expect(clean.checkedObjects == 6)

        let digest = task.adapter.weightsDigest
        let path = store.url(for: digest).path
        try Self.flipBit(path)
        var seen: [Int] = []
        let report = try store.verify { done, _ in seen.append(done) }
        #expect(seen == Array(1...6))
        #expect(report.damaged.map(\.digest) == [digest])
        let damaged = try #require(report.damaged.first)
        #expect(damaged.problem.contains("hash"), "\(damaged.problem)")
        let aside = try #require(damaged.setAsideAs)
        #expect(aside.hasPrefix(temp.state.path + "/damaged/" + digest.hex))
        #expect(FileManager.default.fileExists(atPath: aside))
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(store.damagedDigests() == [digest])

        // The same bytes put again: whole, and forgotten as damaged.
        #expect(try store.put(submission.weights) == digest)
        #expect(store.damagedObjects().isEmpty)
        #expect(try store.verify().damaged.isEmpty)
        #expect(FileManager.default.fileExists(atPath: aside), "the damaged copy is kept")
    }

    @Test("a read that finds a wrong hash records the damage")
    func readRecordsDamage() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        let task = try Sample.install(store, "a", seed: 1)
        try Self.flipBit(store.url(for: task.examplesDigest).path)
        let version = store.damageVersion
        #expect(throws: StoreError.self) { _ = try store.examples(of: task) }
        #expect(store.damagedDigests() == [task.examplesDigest])
        #expect(store.damageVersion != version)
    }

    @Test("open finds a wrong size; a set-aside object stays known as damaged after reopening")
    func openChecksSizes() throws {
        let temp = try TemporaryDirectory()
        var task: InstalledTask
        do {
            let store = try AdapterStore.open(stateDirectory: temp.state)
            task = try Sample.install(store, "a", seed: 1)
            try store.close()
        }
        let path = temp.state.path + "/objects/" + task.adapter.weightsDigest.prefix + "/" + task.adapter.weightsDigest.hex
        chmod(path, 0o600)
        #expect(truncate(path, 10) == 0)
        do {
            let store = try AdapterStore.open(stateDirectory: temp.state)
            let damaged = store.damagedObjects()
            #expect(damaged.map(\.digest) == [task.adapter.weightsDigest])
            #expect(damaged.first?.problem.contains("10 bytes") == true)
            #expect(damaged.first?.setAsideAs != nil)
            try store.close()
        }
        let store = try AdapterStore.open(stateDirectory: temp.state)
        let again = try #require(store.damagedObjects().first)
        #expect(again.digest == task.adapter.weightsDigest)
        #expect(again.problem.contains("missing"), "\(again.problem)")
        #expect(again.setAsideAs != nil)
        // The catalog still references it (the task is installed): garbage collection never touched it.
        #expect(try store.tasks().map(\.name) == ["a"])
    }
}
