import AdapterCore
import AdapterProtocol
import AdapterDaemon
import ArgumentParser
import BLASKernels
import Foundation
import Logging
import NIOConcurrencyHelpers

/// `adapterd-bench recluster`: installs N synthetic adapters in F families one by one into a real
/// (in-process) daemon under a budget of a fraction of their bytes, waits for the daemon's background
/// plan of every task when installs placed their task (`install-plan`), then re-clusters once while
/// clients call `route` in a loop; per N: install times (first, median, last: the cost of each added
/// task), the re-cluster's plan and write times, what it serves, the route latency meanwhile, and how
/// many installs were placed and how long the background plan took to settle after the last.
struct ReclusterBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recluster",
        abstract: "Install N synthetic adapters in families under a budget into a real daemon, then time one re-cluster while clients route.")

    @Option(help: "Adapter counts N, comma-separated (one fresh daemon each).") var counts = "16,32,64"
    @OptionGroup var workload: SyntheticFamilyOptions
    @Option(help: "Clients calling route in a loop during the re-cluster.") var clients = 10
    @Option(help: "Detector model file (default: the built-in model).") var detectorModel: String?
    @Option(help: "OpenBLAS threads in the daemon (default: the daemon's own setting, 1; 2 = what this bench ran with before it used the daemon's setting).")
    var blasThreads: Int?
    @Option(help: "The daemon's install-plan settings to run, comma-separated (auto, full, place; each a fresh daemon per N): full, the plan of every task at each install, is the baseline of placing.")
    var installPlans = "auto"
    @Option(help: "The daemon's planning-threads settings to run, comma-separated (each a fresh daemon per N; default: the daemon's own, one per core).")
    var planningThreads: String?
    @Option(help: "Seconds between one install's answer and the next request (0: back to back). Above the daemon's 1 s delay the background plan of every task starts between installs, and each install first cancels it.")
    var installGap = 0.0
    @Option(help: "Goal for install + re-cluster of each N, seconds (0: not checked).") var goalSeconds = 20.0
    @Option(help: "Goal for the route p99 during the re-cluster, milliseconds (0: not checked).") var goalMs = 5.0

    func run() async throws {
        let counts = try PositiveCounts.parse(self.counts, what: "count")
        let plans = try installPlans.split(separator: ",").map { text -> InstallPlanKind in
            guard let kind = InstallPlanKind(rawValue: String(text)) else { throw ValidationError("bad install plan '\(text)'") }
            return kind
        }
        let threadCounts: [Int?] = try planningThreads.map { try PositiveCounts.parse($0, what: "thread count") } ?? [nil]
        guard clients >= 0 else { throw ValidationError("--clients must not be negative") }
        LoggingSystem.bootstrap { _ in SwiftLogNoOpLogHandler() }
        let familyAdapters = workload.familyAdapters()
        let sample = try PEFTAdapterWriter.serialize(familyAdapters[0], dtype: .f16)
        let adapterBytes = Int64(sample.config.count + sample.weights.count)
        print("recluster: \(workload.shape.description) rank \(workload.rank) F16 adapters (\(ByteSize.format(Int64(sample.weights.count))) safetensors each), "
              + "\(workload.families) families (members ±\(workload.spread) of the family's factors), budget \(BudgetFractions.text(workload.fraction)) "
              + "of all own bytes, installs \(installGap > 0 ? String(format: "%.1f s apart", installGap) : "back to back"), "
              + "\(clients) route clients during the re-cluster, \(ProcessInfo.processInfo.activeProcessorCount) cores, "
              + "OpenBLAS threads \(blasThreads ?? 1) (\(BLASThreads.coreName))")
        if let note = BLASKernelCheck.currentNote() { print("note: \(note)") }
        print("baseline: " + (try Self.rawReadBaseline(sample.weights)))
        var goalMissed = false
        for threads in threadCounts {
            for plan in plans {
                print("install-plan = \(plan.rawValue), planning-threads = \(threads ?? DaemonSettings().planningThreads):")
                print("    N | install first / median / last | recluster total (plan, write) | served | bytes / budget | route p50 / p99 during | errors | install+recluster | placing")
                for n in counts {
                    let row = try await measure(count: n, familyAdapters: familyAdapters, adapterBytes: adapterBytes,
                                                installPlan: plan, planningThreads: threads)
                    print(row.line)
                    goalMissed = goalMissed || row.goalMissed(seconds: goalSeconds, milliseconds: goalMs)
                }
            }
        }
        var goals: [String] = []
        if goalSeconds > 0 { goals.append(String(format: "install + re-cluster ≤ %.0f s", goalSeconds)) }
        if goalMs > 0, clients > 0 { goals.append(String(format: "route p99 < %.1f ms during the re-cluster, no route errors", goalMs)) }
        if !goals.isEmpty { print("goal: " + goals.joined(separator: " and ") + " for every N: " + (goalMissed ? "MISSED" : "met")) }
    }

    /// One raw read of one adapter's safetensors file (the page cache warm after a first read): the
    /// floor under anything that serves or merges it.
    static func rawReadBaseline(_ weights: Data) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("recluster-baseline-\(UUID().uuidString.prefix(8)).safetensors")
        try weights.write(to: path)
        defer { try? FileManager.default.removeItem(at: path) }
        let read = try Stopwatch.median(of: 5) { try Data(contentsOf: path) }
        return "raw read of one adapter file (\(ByteSize.format(Int64(read.value.count)))): \(Stopwatch.format(read.seconds)) (median of 5)"
    }

    struct Row {
        var count: Int
        var installs: [Double]
        var total: Double
        var plan: Double
        var write: Double
        var served: Int
        var bytes: Int64
        var budget: Budget
        var route: [Double]
        var routeErrors: Int
        var routeErrorExample: String?
        /// Installs that placed their task (status policy `placed` right after them).
        var placed: Int
        /// From the last install's answer until the served set was no longer placed (the daemon's
        /// background plan of every task written); 0 when nothing was placed.
        var settle: Double
        /// Mean retained quality of the served set after the last install (placed or planned), and of the re-cluster's plan.
        var installedMean: Double
        var plannedMean: Double

        var installSeconds: Double { installs.reduce(0, +) }

        func goalMissed(seconds: Double, milliseconds: Double) -> Bool {
            (seconds > 0 && installSeconds + total > seconds)
                || (milliseconds > 0 && !(route.isEmpty && routeErrors == 0)   // no route clients ran: nothing to check
                    && (routeErrors > 0 || !(ServerBench.percentile(route, 0.99) * 1e3 < milliseconds)))
        }

        var line: String {
            String(format: "%5d | %7.2f / %5.2f / %5.2f s       | %6.2f s (%.2f, %.2f)        | %6d | %@ / %@ | %5.2f / %6.2f ms (%d) | %6d | %.1f s + %.1f s",
                   count, installs.first ?? .nan, ServerBench.percentile(installs, 0.5), installs.last ?? .nan,
                   total, plan, write, served, ByteSize.format(bytes), budget.formatted(),
                   ServerBench.percentile(route, 0.5) * 1e3, ServerBench.percentile(route, 0.99) * 1e3, route.count,
                   routeErrors, installSeconds, total)
                + String(format: " | %d placed, background plan settled %.1f s after the last install; mean retained quality %.3f after the installs, %.3f planned",
                         placed, settle, installedMean, plannedMean)
                + (routeErrorExample.map { " (\($0))" } ?? "")
        }
    }

    func measure(count: Int, familyAdapters: [LoRAAdapter], adapterBytes: Int64, installPlan: InstallPlanKind,
                 planningThreads: Int?) async throws -> Row {
        let budget = Int64((Double(adapterBytes) * Double(count) * workload.fraction).rounded(.down))
        let daemon = try await InProcessDaemon(budget: .bytes(budget), detectorModel: detectorModel,
                                               maxConnectionsPerUser: clients + 4, installPlan: installPlan,
                                               planningThreads: planningThreads)
        if let blasThreads { BLASThreads.set(blasThreads) }
        let admin = try await AdapterdClient.connect(socketPath: daemon.socketPath)
        var installs: [Double] = []
        var tasks: [String] = []
        var placed = 0
        for index in 0..<count {
            if index > 0, installGap > 0 { try await Task.sleep(for: .milliseconds(Int(installGap * 1000))) }
            let (task, adapter) = workload.member(index, of: count, families: familyAdapters)
            let files = try PEFTAdapterWriter.serialize(adapter, dtype: .f16)
            let params = InstallParams(task: task, config: String(decoding: files.config, as: UTF8.self),
                                       safetensors: files.weights.base64EncodedString(),
                                       examples: #"{"text":"a","label":"b"}"# + "\n")
            let start = ContinuousClock.now
            _ = try await admin.call(Methods.Install.self, params)
            installs.append(Stopwatch.seconds(ContinuousClock.now - start))
            tasks.append(task)
            if try await Self.isPlaced(admin) { placed += 1 }
            // Progress on stderr: a long run cut short still says how far the installs got.
            FileHandle.standardError.write(Data(String(format: "N=%d: install %d took %.2f s\n", count, index + 1, installs[index]).utf8))
        }
        let installedMean = try await admin.call(Methods.Status.self, NoParams()).served?.meanRetainedQuality ?? .nan
        // The daemon plans every task in the background once installs that placed their task settle.
        let settleStart = ContinuousClock.now
        while try await Self.isPlaced(admin) { try await Task.sleep(for: .milliseconds(100)) }
        let settle = placed == 0 ? 0 : Stopwatch.seconds(ContinuousClock.now - settleStart)
        let before = try await Self.replanSeconds(admin)
        let routing = RouteLoop(socketPath: daemon.socketPath, clients: clients, tasks: tasks)
        try routing.start()
        let start = ContinuousClock.now
        // The daemon's progress notes on stderr with the seconds since the call: where the plan's time goes.
        let plan = try await admin.call(Methods.Recluster.self, ReclusterParams(budget: nil, dryRun: false)) { note in
            FileHandle.standardError.write(Data(String(format: "N=%d: recluster %6.2f s: %@\n", count,
                Stopwatch.seconds(ContinuousClock.now - start), note.message).utf8))
        }
        let total = Stopwatch.seconds(ContinuousClock.now - start)
        let route = routing.stop()
        let after = try await Self.replanSeconds(admin)
        await admin.close()
        try await daemon.stop()
        return Row(count: count, installs: installs, total: total, plan: after.plan - before.plan, write: after.write - before.write,
                   served: plan.clusterCount, bytes: plan.totalBytes, budget: plan.budget,
                   route: route.latencies, routeErrors: route.errors, routeErrorExample: route.example,
                   placed: placed, settle: settle, installedMean: installedMean, plannedMean: plan.meanRetainedQuality)
    }

    /// Whether the current served set is one an install placed its task into (status policy `placed`).
    static func isPlaced(_ client: AdapterdClient) async throws -> Bool {
        try await client.call(Methods.Status.self, NoParams()).served?.policy == PlacementPolicy.placed
    }

    /// Σ seconds of the daemon's planning and writing so far (its `adapterd_replan_duration_seconds`
    /// histogram sums, phase plan and write).
    static func replanSeconds(_ client: AdapterdClient) async throws -> (plan: Double, write: Double) {
        let text = try await client.call(Methods.Metrics.self, NoParams()).text
        func sum(_ phase: String) -> Double {
            for line in text.split(separator: "\n") where line.hasPrefix("adapterd_replan_duration_seconds_sum")
                && line.contains(#"phase="\#(phase)""#) {
                if let value = line.split(separator: " ").last.flatMap({ Double($0) }) { return value }
            }
            return .nan
        }
        return (sum("plan"), sum("write"))
    }
}

/// The adapter shapes of the re-cluster benchmark.
enum ReclusterShape: String, ExpressibleByArgument, CustomStringConvertible {
    case threeB = "3b"
    case small

    func adapter(rank: Int, seed: UInt64) -> LoRAAdapter {
        switch self {
        case .threeB: SyntheticAdapter.llama3B(rank: rank, seed: seed)
        case .small: SyntheticAdapter.adapter(layers: 4, hidden: 256, kvWidth: 128, rank: rank, seed: seed)
        }
    }

    var description: String {
        switch self {
        case .threeB: "Llama-3.2-3B-shaped (q, k, v, o × 28 layers)"
        case .small: "small (q, k, v, o × 4 layers, width 256)"
        }
    }
}

/// Clients calling `route` back to back, one thread and one `LoadConnection` each, until stopped:
/// every call's latency, and the errors.
final class RouteLoop: @unchecked Sendable {
    struct Outcome {
        var latencies: [Double] = []
        var errors = 0
        var example: String?
    }

    private let socketPath: String
    private let clients: Int
    private let tasks: [String]
    private let stopped = NIOLockedValueBox(false)
    private let outcome = NIOLockedValueBox(Outcome())
    private let finished = DispatchGroup()

    init(socketPath: String, clients: Int, tasks: [String]) {
        self.socketPath = socketPath
        self.clients = clients
        self.tasks = tasks
    }

    /// Connects every client, then starts them.
    func start() throws {
        let connections = try (0..<clients).map { _ in try LoadConnection(socketPath: socketPath) }
        let frames = tasks.map { LoadConnection.frame(#"{"jsonrpc":"2.0","id":1,"method":"route","params":{"task":"\#($0)"}}"#) }
        for (index, connection) in connections.enumerated() {
            finished.enter()
            let thread = Thread { [self] in
                var mine = Outcome()
                var call = index
                while !stopped.withLockedValue({ $0 }) {
                    let begin = ContinuousClock.now
                    do {
                        let reply = try connection.call(frames[call % frames.count])
                        // Sorted keys: a success starts with `{"id":`, an error with `{"error":`.
                        if reply.starts(with: Data(#"{"id":"#.utf8)) {
                            mine.latencies.append(Stopwatch.seconds(ContinuousClock.now - begin))
                        } else {
                            mine.errors += 1
                            if mine.example == nil { mine.example = String(decoding: reply.prefix(200), as: UTF8.self) }
                        }
                    } catch {
                        mine.errors += 1
                        if mine.example == nil { mine.example = "\(error)" }
                        break
                    }
                    call += 7
                }
                connection.close()
                let result = mine
                outcome.withLockedValue { total in
                    total.latencies += result.latencies
                    total.errors += result.errors
                    total.example = total.example ?? result.example
                }
                finished.leave()
            }
            thread.start()
        }
    }

    /// Stops the clients and returns what they measured.
    func stop() -> Outcome {
        stopped.withLockedValue { $0 = true }
        finished.wait()
        return outcome.withLockedValue { $0 }
    }
}
