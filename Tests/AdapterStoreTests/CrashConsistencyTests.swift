import Foundation
import Testing
@testable import AdapterStore

#if canImport(Glibc)
import Glibc
#endif

/// SIGKILL at random moments while installing and switching generations (in a child process, via
/// Swift Testing exit tests); afterwards every acknowledged change is present and nothing half-done
/// is visible.
@Suite("Crash consistency under SIGKILL")
struct CrashConsistencyTests {
    static let names = 5

    /// The child's work: install t(i % 5) with seed i, forever; every 4th install also commit a
    /// generation of own adapters. Each acknowledged step is appended to `ackLog` after it returned.
    /// A watcher thread kills the process with SIGKILL `jitterMicroseconds` after the
    /// `killAfterAcknowledgements`-th acknowledgement, i.e. somewhere inside a later operation,
    /// however fast or slow this machine's fsync is.
    static func work(statePath: String, ackLog: String, killAfterAcknowledgements: Int,
                     jitterMicroseconds: UInt32) throws -> Never {
        let progress = AcknowledgementCounter()
        let killer = Thread {
            while progress.value < killAfterAcknowledgements { usleep(200) }
            usleep(jitterMicroseconds)
            kill(getpid(), SIGKILL)
        }
        killer.start()
        let store = try AdapterStore.open(stateDirectory: URL(fileURLWithPath: statePath))
        let log = open(ackLog, O_WRONLY | O_APPEND | O_CREAT, 0o600)
        func acknowledge(_ line: String) {
            let bytes = Array((line + "\n").utf8)
            _ = bytes.withUnsafeBytes { write(log, $0.baseAddress, $0.count) }
            progress.increment()
        }
        let start = (try store.tasks().map { $0.adapter.signature.last ?? 0 }.max()).map { Int($0) + 1 } ?? 0
        var index = max(start, 0)
        while true {
            let name = "t\(index % names)"
            try store.installTask(name: name, examples: Sample.examples(name, seed: index),
                                  adapter: Self.adapter(seed: index), installedBy: 0)
            acknowledge("install \(index)")
            if index % 4 == 3 {
                let tasks = try store.tasks()
                let generation = try store.beginGeneration(budget: .bytes(1 << 30), evaluator: "crash-test",
                                                           planSummary: ["after": index])
                var routes: [RouteDraft] = []
                for task in tasks {
                    let served = try store.addServedAdapter(
                        ServedAdapterDraft(kind: .own, memberTasks: [task.name],
                                           configJSON: try store.read(task.adapter.configDigest),
                                           weights: try store.read(task.adapter.weightsDigest), rank: 8, scale: 2),
                        to: generation.id)
                    routes.append(RouteDraft(task: task.name, servedAdapterID: served.id,
                                             taskAdapterID: task.adapter.id, retainedQuality: 1))
                }
                let committed = try store.commitGeneration(generation.id, routes: routes)
                acknowledge("generation \(committed.id) \(index)")
            }
            index += 1
        }
    }

    /// Seed i's adapter; the last signature value records i so a restarted child continues the sequence.
    static func adapter(seed: Int) -> AdapterSubmission {
        var adapter = Sample.adapter(seed: seed, weightsSize: 20_000)
        adapter.signature[19] = Double(seed)
        return adapter
    }

    @Test("after SIGKILL at a random moment, acknowledged installs and generations are intact", arguments: 0..<10)
    func killAndReopen(round: Int) async throws {
        let temp = try TemporaryDirectory()
        let statePath = temp.state.path
        let ackLog = temp.url.appendingPathComponent("acks.log").path
        var generator = SystemRandomNumberGenerator()
        // Three kills per round: later ones hit a store that already recovered from earlier ones.
        for _ in 0..<3 {
            let linesBefore = Self.acknowledgementCount(ackLog)
            let target = Int.random(in: 0...10, using: &generator)
            let jitter = UInt32.random(in: 0...30_000, using: &generator)
            await #expect(processExitsWith: .signal(SIGKILL)) {
                [statePath = statePath as String, ackLog = ackLog as String, target = target as Int, jitter = jitter as UInt32] in
                try CrashConsistencyTests.work(statePath: statePath, ackLog: ackLog,
                                               killAfterAcknowledgements: target, jitterMicroseconds: jitter)
            }
            // The child was killed by its watcher, after at least `target` acknowledged steps.
            #expect(Self.acknowledgementCount(ackLog) - linesBefore >= target)
            try Self.verify(statePath: statePath, ackLog: ackLog)
        }
    }

    static func acknowledgementCount(_ ackLog: String) -> Int {
        ((try? String(contentsOfFile: ackLog, encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    static func verify(statePath: String, ackLog: String) throws {
        if !FileManager.default.fileExists(atPath: ackLog) {
            _ = FileManager.default.createFile(atPath: ackLog, contents: nil)
        }
        let lines = try String(contentsOfFile: ackLog, encoding: .utf8).split(separator: "\n")
        let installs = lines.compactMap { $0.hasPrefix("install ") ? Int($0.dropFirst(8)) : nil }
        let generations = lines.compactMap { line -> Int64? in
            line.hasPrefix("generation ") ? Int64(line.split(separator: " ")[1]) : nil
        }
        let store = try AdapterStore.open(stateDirectory: URL(fileURLWithPath: statePath))
        defer { try? store.close() }
        let lastAcknowledged = installs.max() ?? -1
        let tasks = try store.tasks()
        for name in 0..<names {
            let acknowledged = installs.filter { $0 % names == name }.max()
            var allowed = Set([acknowledged].compactMap { $0 })
            if (lastAcknowledged + 1) % names == name { allowed.insert(lastAcknowledged + 1) }  // committed, not yet acknowledged
            let task = tasks.first { $0.name == "t\(name)" }
            if acknowledged != nil {
                let installed = try #require(task, "acknowledged task t\(name) is present")
                let seed = Int(installed.adapter.signature[19])
                #expect(allowed.contains(seed), "t\(name) holds seed \(seed); acknowledged \(allowed)")
                #expect(try store.read(installed.adapter.weightsDigest) == adapter(seed: seed).weights)
                #expect(try store.examples(of: installed) == Sample.examples("t\(name)", seed: seed))
            } else if let task {
                #expect(Int(task.adapter.signature[19]) == lastAcknowledged + 1)
            }
        }
        if let last = generations.max() {
            let current = try #require(try store.currentGeneration())
            #expect(current.id >= last, "the last acknowledged generation (or a later one) is current")
            #expect(current.state == .current)
            for served in current.servedAdapters {
                #expect(try store.read(served.weightsDigest).count == served.weightsBytes)
                let linked = try Data(contentsOf: served.directory.appendingPathComponent("adapter_model.safetensors"))
                #expect(ContentDigest.of(linked) == served.weightsDigest)
            }
            for route in current.routes where route.servesInstalledVersion {
                #expect(try store.route(task: route.task)?.generationID == current.id)
            }
        }
        let building = try store.generations().filter { $0.state == .building }
        #expect(building.isEmpty, "no half-made generation survives a reopen")
        #expect(try FileManager.default.contentsOfDirectory(atPath: statePath + "/tmp").isEmpty)
        let report = try store.integrityCheck()
        #expect(report.isHealthy, "\(report.problems)")
        // What survived is the new truth for the next round (an install may have committed without
        // reaching its acknowledgement).
        let recovered = tasks.map { "install \(Int($0.adapter.signature[19]))\n" }.joined()
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: ackLog))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(recovered.utf8))
        try handle.close()
    }
}

/// Number of acknowledged steps in the child, read by its killer thread.
final class AcknowledgementCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    var value: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }

    func increment() {
        lock.lock()
        count += 1
        lock.unlock()
    }
}
