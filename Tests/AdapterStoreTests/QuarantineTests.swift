import Foundation
import Testing
@testable import AdapterStore

@Suite("Quarantine records")
struct QuarantineTests {
    @Test("a refused adapter leaves only its record: digest, task, verdict, time, peer")
    func records() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        let weights = Data(repeating: 1, count: 512)
        let verdict = Sample.verdict(score: 0.97, label: "poisoned")
        let at = Date(timeIntervalSince1970: 1_800_000_000.25)
        let first = try store.addQuarantine(weightsDigest: ContentDigest.of(weights), task: "evil",
                                            verdict: verdict, peerUID: 1002, refusedAt: at)
        let second = try store.addQuarantine(weightsDigest: ContentDigest.of(Data("x".utf8)),
                                             task: String(repeating: "y", count: 1000),
                                             verdict: verdict, peerUID: 0)
        #expect(second.id > first.id)
        #expect(second.task.count == 256, "an over-long attempted name is cut, not refused")
        let records = try store.quarantine()
        #expect(records == [second, first], "newest first")
        #expect(records[1].verdict == verdict)
        #expect(records[1].refusedAt == at)
        #expect(records[1].peerUID == 1002)
        #expect(records[1].weightsDigest == ContentDigest.of(weights))
        #expect(try store.quarantine(limit: 1) == [second])

        #expect(try store.tasks().isEmpty)
        #expect(try !store.contains(ContentDigest.of(weights)))
        #expect(try FileManager.default.contentsOfDirectory(atPath: temp.state.path + "/objects").isEmpty)
        let error = try #require(throws: StoreError.self) {
            try store.addQuarantine(weightsDigest: ContentDigest.of(weights), task: "t",
                                    verdict: Sample.verdict(score: .nan), peerUID: 0)
        }
        #expect(error.code == .invalidArgument)
    }
}
