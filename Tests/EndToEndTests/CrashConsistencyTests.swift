import AdapterProtocol
import Crypto
import Foundation
import Testing

/// SIGKILL at random moments during repeated installs: after a restart every acknowledged install is
/// present and intact, and nothing half-written is visible.
@Suite("crash consistency", .serialized)
struct CrashConsistencyTests {
    /// What an acknowledged install promised.
    struct Acknowledged: Sendable {
        var version: Int
        var sha256: String
    }

    final class Ledger: @unchecked Sendable {
        private let lock = NSLock()
        private var acknowledged: [String: Acknowledged] = [:]
        private var acknowledgements = 0
        func record(task: String, version: Int, sha256: String) {
            lock.withLock {
                acknowledgements += 1
                if (acknowledged[task]?.version ?? 0) < version { acknowledged[task] = Acknowledged(version: version, sha256: sha256) }
            }
        }
        var snapshot: [String: Acknowledged] { lock.withLock { acknowledged } }
        var count: Int { lock.withLock { acknowledgements } }
    }

    @Test func acknowledgedInstallsSurviveSIGKILL() async throws {
        let rounds = Int(ProcessInfo.processInfo.environment["ADAPTERD_CRASH_ROUNDS"] ?? "") ?? 50
        let corpus = try Corpus.adapters().filter { !$0.poisoned }
        try #require(corpus.count >= 2)
        let sandbox = try Sandbox()
        defer { sandbox.remove() }

        // Find adapters the detector accepts, and prepare their install params once.
        var candidates: [(params: InstallParams, sha256: String)] = []
        do {
            let daemon = try DaemonProcess(sandbox: sandbox, arguments: DaemonProcess.arguments(sandbox))
            let client = try await AdapterdClient.connect(socketPath: sandbox.socket)
            for adapter in corpus.prefix(12) where candidates.count < 3 {
                let weights = try Data(contentsOf: URL(fileURLWithPath: adapter.directory + "/adapter_model.safetensors"))
                let params = InstallParams(
                    task: "probe", config: try String(contentsOfFile: adapter.directory + "/adapter_config.json", encoding: .utf8),
                    safetensors: weights.base64EncodedString(), examples: try String(contentsOfFile: adapter.examples, encoding: .utf8))
                if (try? await client.call(Methods.Install.self, params)) != nil {
                    candidates.append((params, SHA256.hash(data: weights).map { String(format: "%02x", $0) }.joined()))
                }
            }
            await client.close()
            try daemon.stop()
        }
        try #require(candidates.count >= 2, "the detector accepted fewer than 2 benign corpus adapters")

        let accepted = candidates
        let ledger = Ledger()
        let tasks = ["alpha", "beta", "gamma", "delta"]
        var generator = SystemRandomNumberGenerator()
        var killedDuringInstall = 0
        for round in 0..<rounds {
            let daemon = try DaemonProcess(sandbox: sandbox, arguments: DaemonProcess.arguments(sandbox))
            try await verify(ledger: ledger, socket: sandbox.socket, round: round, candidates: accepted.map(\.sha256))

            // Install in a loop from two clients while the daemon is killed at a random moment.
            let delay = Int.random(in: 50...1500, using: &generator)
            let inFlight = InFlightCounter()
            let writers = (0..<2).map { writer in
                Task {
                    guard let client = try? await AdapterdClient.connect(socketPath: sandbox.socket) else { return }
                    var index = writer
                    while !Task.isCancelled {
                        let candidate = accepted[index % accepted.count]
                        var params = candidate.params
                        params.task = tasks[(index + round) % tasks.count]
                        index += 2
                        inFlight.begin()
                        let result = try? await client.call(Methods.Install.self, params)
                        inFlight.end()
                        guard let result else { break }
                        ledger.record(task: result.task, version: result.version, sha256: result.sha256)
                    }
                    await client.close()
                }
            }
            try await Task.sleep(for: .milliseconds(delay))
            if inFlight.active > 0 { killedDuringInstall += 1 }
            daemon.signal(SIGKILL)
            _ = try daemon.wait()
            for writer in writers { writer.cancel() }
            for writer in writers { await writer.value }
        }
        // Final check after the last kill.
        let daemon = try DaemonProcess(sandbox: sandbox, arguments: DaemonProcess.arguments(sandbox))
        try await verify(ledger: ledger, socket: sandbox.socket, round: rounds, candidates: candidates.map(\.sha256))
        try daemon.stop()
        // The kills must leave acknowledged installs to check, not only interrupted ones.
        #expect(ledger.count >= rounds / 10, "only \(ledger.count) installs were acknowledged")
        #expect(ledger.snapshot.count >= 2)
        #expect(killedDuringInstall >= rounds / 2, "only \(killedDuringInstall) of \(rounds) kills hit an install in progress")
        print("crash consistency: \(rounds) rounds, \(ledger.count) acknowledged installs, \(killedDuringInstall) kills during an install, "
              + "acknowledged versions \(ledger.snapshot.mapValues(\.version))")
    }

    /// Every acknowledged install is served at its version or a later one, with intact files; every
    /// listed task is served by files whose bytes match their recorded hash.
    func verify(ledger: Ledger, socket: String, round: Int, candidates: [String]) async throws {
        let client = try await AdapterdClient.connect(socketPath: socket)
        defer { Task { await client.close() } }
        let list = try await client.call(Methods.List.self, NoParams())
        for (task, acknowledged) in ledger.snapshot {
            let route = try await client.call(Methods.Route.self, RouteParams(task: task))
            #expect(route.version >= acknowledged.version, "round \(round): \(task) went back from version \(acknowledged.version) to \(route.version)")
            if route.version == acknowledged.version {
                #expect(route.adapter.id == acknowledged.sha256, "round \(round): \(task) v\(route.version) has other weights")
            }
        }
        for summary in list.tasks {
            let route = try await client.call(Methods.Route.self, RouteParams(task: summary.task))
            #expect(candidates.contains(route.adapter.id))
            let path = try #require(route.adapter.weightsPath)
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            let digest = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
            #expect(digest == route.adapter.id, "round \(round): served file of \(summary.task) is not intact")
            #expect(summary.sha256 == route.adapter.id)
        }
    }
}

final class InFlightCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func begin() { lock.withLock { count += 1 } }
    func end() { lock.withLock { count -= 1 } }
    var active: Int { lock.withLock { count } }
}
