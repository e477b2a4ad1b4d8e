import AdapterCore
import AdapterDaemon
import AdapterProtocol
import AdapterStore
import ArgumentParser
import Foundation
import Logging

/// `adapterd-bench server`: latency of `route` and `status` over the Unix socket with concurrent
/// clients (p50/p99), and the time to install a 3B-shaped rank-16 adapter, against an in-process
/// daemon (the real server, service and store) on a temporary socket.
struct ServerBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Socket latency of route/status with concurrent clients, and install time of a 3B-shaped adapter.")

    @Option(help: "Concurrent clients.") var clients = 8
    @Option(help: "Requests per client and method.") var requests = 500
    @Option(help: "Install repetitions of the 3B-shaped adapter.") var installs = 3
    @Option(help: "Detector model file (default: the built-in model).") var detectorModel: String?

    func run() throws {
        // The benchmark root command is synchronous; run the async body to completion.
        let box = ResultBox()
        let semaphore = DispatchSemaphore(value: 0)
        let command = self
        Task {
            do { try await command.runAsync() } catch { box.error = error }
            semaphore.signal()
        }
        semaphore.wait()
        if let error = box.error { throw error }
    }

    func runAsync() async throws {
        LoggingSystem.bootstrap { _ in SwiftLogNoOpLogHandler() }
        // Unlimited budget: the install is timed without a re-plan.
        let daemon = try await InProcessDaemon(budget: .unlimited, detectorModel: detectorModel)
        let screening = daemon.screening
        let socketPath = daemon.socketPath

        // Install of a Llama-3.2-3B-shaped rank-16 adapter (q, k, v, o over 28 layers; GQA k/v 1024).
        let (config, weights) = try Self.llama3BAdapter(rank: 16)
        let params = InstallParams(task: "bench0", config: String(decoding: config, as: UTF8.self),
                                   safetensors: weights.base64EncodedString(), examples: #"{"text":"a","label":"b"}"# + "\n")
        let client = try await AdapterdClient.connect(socketPath: socketPath)
        var installTimes: [Double] = []
        for index in 0..<installs {
            var request = params
            request.task = "bench\(index)"
            let start = ContinuousClock.now
            _ = try await client.call(Methods.Install.self, request)
            installTimes.append(Stopwatch.seconds(ContinuousClock.now - start))
        }
        print(String(format: "install 3B-shaped rank-16 adapter (%@ safetensors, F16): median %.3f s over %d (detector alone %.3f s)",
                     ByteSize.format(Int64(weights.count)), Self.percentile(installTimes, 0.5), installs, screening.medianSeconds))

        // Baseline: the same number of requests on one client, sequentially.
        for method in ["status", "route"] {
            let single = try await Self.measure(method: method, clients: 1, requests: requests, socket: socketPath)
            let concurrent = try await Self.measure(method: method, clients: clients, requests: requests, socket: socketPath)
            print(String(format: "%@: 1 client p50 %.3f ms p99 %.3f ms | %d clients p50 %.3f ms p99 %.3f ms, %.0f req/s (%.1fx the single client's rate)",
                         method, single.p50 * 1e3, single.p99 * 1e3, clients, concurrent.p50 * 1e3, concurrent.p99 * 1e3,
                         concurrent.rate, concurrent.rate / single.rate))
        }
        await client.close()
        try await daemon.stop()
    }

    struct Latency {
        var p50: Double
        var p99: Double
        var rate: Double
    }

    static func measure(method: String, clients: Int, requests: Int, socket: String) async throws -> Latency {
        let start = ContinuousClock.now
        let samples = try await withThrowingTaskGroup(of: [Double].self) { group in
            for _ in 0..<clients {
                group.addTask {
                    let client = try await AdapterdClient.connect(socketPath: socket)
                    var times: [Double] = []
                    times.reserveCapacity(requests)
                    for _ in 0..<requests {
                        let begin = ContinuousClock.now
                        if method == "route" {
                            _ = try await client.call(Methods.Route.self, RouteParams(task: "bench0"))
                        } else {
                            _ = try await client.call(Methods.Status.self, NoParams())
                        }
                        times.append(Stopwatch.seconds(ContinuousClock.now - begin))
                    }
                    await client.close()
                    return times
                }
            }
            var all: [Double] = []
            for try await times in group { all += times }
            return all
        }
        let elapsed = Stopwatch.seconds(ContinuousClock.now - start)
        return Latency(p50: percentile(samples, 0.5), p99: percentile(samples, 0.99), rate: Double(samples.count) / elapsed)
    }

    static func percentile(_ values: [Double], _ q: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * q).rounded()))]
    }

    /// A synthetic PEFT adapter with Llama-3.2-3B's attention shapes.
    static func llama3BAdapter(rank: Int) throws -> (Data, Data) {
        var generator = SeededGenerator(seed: 42)
        var modules: [LoRAModule] = []
        let hidden = 3072
        let kv = 1024
        for layer in 0..<28 {
            for (projection, out) in [(Projection.q, hidden), (.k, kv), (.v, kv), (.o, hidden)] {
                let a = Matrix(rows: rank, cols: hidden, elements: (0..<(rank * hidden)).map { _ in generator.nextGaussian() * 0.02 })
                let b = Matrix(rows: out, cols: rank, elements: (0..<(out * rank)).map { _ in generator.nextGaussian() * 0.01 })
                modules.append(LoRAModule(name: "model.layers.\(layer).self_attn.\(projection.rawValue)_proj", layer: layer,
                                          projection: projection, a: a, b: b, scale: 2))
            }
        }
        let config = PEFTConfig(baseModelNameOrPath: "meta-llama/Llama-3.2-3B", r: rank, loraAlpha: Double(2 * rank),
                                targetModules: ["q_proj", "k_proj", "v_proj", "o_proj"], taskType: "CAUSAL_LM")
        let adapter = LoRAAdapter(config: config, modules: modules, architecture: .llama, storageDType: .f16,
                                  tensorBytes: modules.reduce(0) { $0 + 2 * ($1.a.rows * $1.a.cols + $1.b.rows * $1.b.cols) })
        let files = try PEFTAdapterWriter.serialize(adapter, dtype: .f16)
        return (files.config, files.weights)
    }
}

/// Runs the real detector (timed), then accepts: for timing the whole install path with an
/// adapter of a profile the detector was not trained on. Used only by the benchmarks' in-process daemon.
final class TimedAcceptingScreening: Screening, @unchecked Sendable {
    let detector: DetectorScreening
    private let lock = NSLock()
    private var times: [Double] = []

    init(detector: DetectorScreening) {
        self.detector = detector
    }

    var modelName: String { detector.modelName }
    var threshold: Double { detector.threshold }

    func screen(_ adapter: LoRAAdapter) throws -> Verdict {
        let start = ContinuousClock.now
        var verdict = try detector.screen(adapter)
        let elapsed = Stopwatch.seconds(ContinuousClock.now - start)
        lock.withLock { times.append(elapsed) }
        verdict.decision = .benign
        if !verdict.score.isFinite { verdict.score = 0 }
        return verdict
    }

    var medianSeconds: Double { lock.withLock { ServerBench.percentile(times, 0.5) } }
}

final class ResultBox: @unchecked Sendable {
    var error: Error?
}
