import AdapterProtocol
import Crypto
import Foundation
import Testing

/// SIGKILL at random moments while the daemon re-clusters (budgets alternating between clustered and
/// own-adapter plans): after every restart the current generation is complete, serves every task
/// from intact files within the budget in force, and no partial (newer) generation is visible.
@Suite("re-cluster crash consistency", .serialized)
struct ReclusterCrashTests {
    @Test func servedGenerationIsCompleteAfterSIGKILLDuringReclustering() async throws {
        let rounds = Int(ProcessInfo.processInfo.environment["ADAPTERD_RECLUSTER_CRASH_ROUNDS"] ?? "") ?? 30
        let corpus = try ServedSetTests.llamaTasks()
        try #require(corpus.count >= 4, "the corpus needs at least 4 llama-tiny q/k/v/o adapters")
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let arguments = ServedSetTests.arguments(sandbox)

        var names: [String] = []
        do {
            let daemon = try DaemonProcess(sandbox: sandbox, arguments: arguments)
            let client = try await AdapterdClient.connect(socketPath: sandbox.socket)
            for adapter in corpus {
                let weights = try Data(contentsOf: URL(fileURLWithPath: adapter.directory + "/adapter_model.safetensors"))
                let params = InstallParams(
                    task: adapter.task,
                    config: try String(contentsOfFile: adapter.directory + "/adapter_config.json", encoding: .utf8),
                    safetensors: weights.base64EncodedString(),
                    examples: try String(contentsOfFile: adapter.examples, encoding: .utf8))
                if (try? await client.call(Methods.Install.self, params)) != nil { names.append(adapter.task) }
            }
            await client.close()
            try daemon.stop()
        }
        try #require(names.count >= 4, "the detector accepted fewer than 4 of the llama-tiny adapters")

        // Budgets that force 1, 2 or 3 merged adapters, and one that holds every own adapter.
        let budgets: [Int64] = [70_000, 130_000, 200_000, 10_000_000]
        var generator = SystemRandomNumberGenerator()
        var killedDuringRecluster = 0
        var completed = 0
        for round in 0..<rounds {
            let daemon = try DaemonProcess(sandbox: sandbox, arguments: arguments)
            try await verify(socket: sandbox.socket, state: sandbox.state, tasks: names, round: round)

            let inFlight = InFlightCounter()
            let finished = InFlightCounter()
            let start = Int.random(in: 0..<budgets.count, using: &generator)
            let worker = Task {
                guard let client = try? await AdapterdClient.connect(socketPath: sandbox.socket) else { return }
                var index = start
                while !Task.isCancelled {
                    inFlight.begin()
                    let result = try? await client.call(Methods.Recluster.self,
                                                        ReclusterParams(budget: .bytes(budgets[index % budgets.count])))
                    inFlight.end()
                    guard result != nil else { break }
                    finished.begin()
                    index += 1
                }
                await client.close()
            }
            if round % 2 == 1 {
                // Every other round lets at least one re-cluster finish first, so kills also land on a
                // daemon that has just switched generations (however slow the machine is).
                let deadline = ContinuousClock.now + .seconds(120)
                while finished.active == 0 && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(10))
                }
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...300, using: &generator)))
            } else {
                try await Task.sleep(for: .milliseconds(Int.random(in: 30...900, using: &generator)))
            }
            if inFlight.active > 0 { killedDuringRecluster += 1 }
            daemon.signal(SIGKILL)
            _ = try daemon.wait()
            worker.cancel()
            await worker.value
            completed += finished.active
        }
        let daemon = try DaemonProcess(sandbox: sandbox, arguments: arguments)
        try await verify(socket: sandbox.socket, state: sandbox.state, tasks: names, round: rounds)
        try daemon.stop()
        #expect(killedDuringRecluster >= rounds / 2, "only \(killedDuringRecluster) of \(rounds) kills hit a re-cluster in progress")
        #expect(completed >= rounds / 2, "only \(completed) re-clusters completed between kills")
        print("re-cluster crash consistency: \(rounds) rounds, \(killedDuringRecluster) kills during a re-cluster, "
              + "\(completed) re-clusters completed, \(names.count) tasks")
    }

    /// The current generation serves every task from intact files within the budget; nothing newer exists.
    func verify(socket: String, state: String, tasks: [String], round: Int) async throws {
        let client = try await AdapterdClient.connect(socketPath: socket)
        defer { Task { await client.close() } }
        let status = try await client.call(Methods.Status.self, NoParams())
        let served = try #require(status.served, "round \(round): nothing is served")
        #expect(served.generation == status.generation)
        #expect(Set(served.tasks.map(\.task)) == Set(tasks), "round \(round): served tasks \(served.tasks.map(\.task))")
        if case .bytes(let limit) = status.budget.limit {
            #expect(status.budget.servedBytes <= limit, "round \(round): \(status.budget.servedBytes) > \(limit)")
        }
        #expect(served.clusters.reduce(0) { $0 + $1.bytes } == status.budget.servedBytes)
        for task in tasks {
            let route = try await client.call(Methods.Route.self, RouteParams(task: task))
            #expect(route.generation == status.generation, "round \(round): \(task) routed to generation \(route.generation)")
            let directory = try #require(route.adapter.directory)
            let weights = try Data(contentsOf: URL(fileURLWithPath: directory + "/adapter_model.safetensors"))
            let digest = SHA256.hash(data: weights).map { String(format: "%02x", $0) }.joined()
            #expect(digest == route.adapter.sha256, "round \(round): served file of \(task) is not intact")
            #expect(FileManager.default.fileExists(atPath: directory + "/adapter_config.json"))
        }
        let generations = try FileManager.default.contentsOfDirectory(atPath: state + "/generations").compactMap { Int64($0) }
        #expect(generations.allSatisfy { $0 <= status.generation },
                "round \(round): generation directories \(generations.sorted()) beyond the current \(status.generation)")
    }
}
