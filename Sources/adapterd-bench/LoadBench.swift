import AdapterCore
import AdapterProtocol
import ArgumentParser
import Foundation
import NIOConcurrencyHelpers
#if canImport(Glibc)
import Glibc
#endif

/// `adapterd-bench load`: many concurrent clients issuing route/status/list against a real adapterd
/// process, first idle, then while installs run, then while re-clusterings run; throughput, p50/p99
/// per method and errors per phase.
struct LoadBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Concurrent route/status/list load against a real adapterd while installs and re-clusterings run.")

    @Option(help: "Concurrent read clients.") var clients = 50
    @Option(help: "Requests per client and phase (route, status and list in turn, 3 routes per status and list).")
    var requests = 200
    @Option(help: "Tasks installed before the first phase.") var tasks = 12
    @Option(help: "The adapterd executable (default: next to adapterd-bench).") var adapterd: String?
    @Option(help: "The adapter corpus (manifest.json, adapters/, tasks/).") var corpus = "data/corpus"
    @Option(help: "Largest corpus adapter to use, bytes (the largest accepted ones below it are used).")
    var maxAdapterBytes = 700_000
    @Option(help: "Detector model file for the daemon (default: its built-in model).") var detectorModel: String?
    @Option(help: "Mean pause of each client between its requests, milliseconds (0: back to back, i.e. the daemon saturated). Each pause is drawn uniformly from ½–1½ of it and each client's first request is put off by up to one pause, so the clients do not run in lockstep.")
    var pauseMs = 0.0
    @Option(help: "Route p99 goal during a re-cluster, milliseconds (0: not checked, e.g. for a debug build).") var goalMs = 5.0
    @Option(help: "Read clients: raw (one thread each, blocking socket, pre-built requests, a response checked by its first bytes: little CPU taken from the daemon) or typed (AdapterdClient, decoding every result).")
    var client: LoadClientKind = .raw
    @Flag(help: "Exit 1 when any request failed.") var strictErrors = false
    @Flag(help: "Exit 1 when any request failed or the route p99 goal during re-clustering is missed.")
    var strict = false

    func run() async throws {
        let executable = adapterd ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path + "/adapterd"
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw ValidationError("no adapterd at \(executable); build it (swift build -c release) or pass --adapterd")
        }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("adapterd-load-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let socket = root + "/a.sock"
        let config = """
            budget = unlimited
            max-connections = \(clients + 16)
            log-level = warning

            """
        try config.write(toFile: root + "/adapterd.conf", atomically: true, encoding: .utf8)
        var arguments = ["--socket", socket, "--state-dir", root + "/state", "--config", root + "/adapterd.conf"]
        if let detectorModel { arguments += ["--detector-model", detectorModel] }
        let daemon = try LoadDaemon(executable: executable, arguments: arguments, socket: socket, log: root + "/adapterd.log")
        defer { daemon.stop() }
        let outcome = try await measure(socket: socket, daemon: daemon)
        // The daemon returns freed memory (malloc_trim) on its planning thread after a change has
        // answered; give it a moment before reading.
        try? await Task.sleep(for: .seconds(2))
        print(String(format: "adapterd RSS after the run: %.1f MiB (peak %.1f MiB)",
                     Double(daemon.residentBytes()) / 1_048_576, Double(daemon.residentBytes(field: "VmHWM:")) / 1_048_576))
        if (strict || strictErrors) && outcome.errors > 0 { throw ExitCode(1) }
        if strict && outcome.goalMissed { throw ExitCode(1) }
    }

    struct Outcome {
        var errors = 0
        var goalMissed = false
    }

    func measure(socket: String, daemon: LoadDaemon) async throws -> Outcome {
        let admin = try await AdapterdClient.connect(socketPath: socket)
        defer { Task { await admin.close() } }
        // Adapters the detector accepts, as installable variants (one bit of one weight flipped each).
        let candidates = try LoadCorpus.benignAdapters(root: corpus, maximumBytes: maxAdapterBytes)
        var accepted: [LoadCorpus.Adapter] = []
        for candidate in candidates where accepted.count < 3 {
            if (try? await admin.call(Methods.Install.self, candidate.params(task: "probe"))) != nil { accepted.append(candidate) }
        }
        _ = try? await admin.call(Methods.Remove.self, TaskParams(task: "probe"))
        let acceptedAdapters = accepted
        guard let first = accepted.first else {
            throw ValidationError("the daemon's detector accepted none of the benign adapters in \(corpus)")
        }
        var variant = 0
        func nextAdapter() -> LoadCorpus.Adapter {
            variant += 1
            return accepted[variant % accepted.count].variant(variant)
        }
        var names: [String] = []
        for index in 0..<tasks {
            let name = "load\(index)"
            _ = try await admin.call(Methods.Install.self, nextAdapter().params(task: name))
            names.append(name)
        }
        let status = try await admin.call(Methods.Status.self, NoParams())
        let reclusterProbe = try await admin.callRaw(method: "recluster", paramsJSON: #"{"budget":null,"dryRun":true}"#)
        let hasRecluster = !(String(decoding: reclusterProbe, as: UTF8.self).contains("\(RPCErrorCode.methodNotFound.rawValue)"))
        print("load: \(clients) clients × \(requests) requests per phase"
              + (pauseMs > 0 ? String(format: " (each pausing %.1f ms on average between requests)", pauseMs) : " (back to back)")
              + ", \(client.rawValue) clients"
              + " against \(status.daemon) \(status.version) "
              + "(pid \(status.pid)); \(names.count) tasks installed from \(accepted.map(\.name).joined(separator: ", ")) "
              + "(\(first.weights.count) B, …), \(ByteSize.format(status.budget.servedBytes)) served")
        print("phase                 requests  errors     req/s   route p50/p99 ms   status p50/p99 ms   list p50/p99 ms   background")

        var outcome = Outcome()
        // Idle.
        let idle = try await LoadPhase.run(socket: socket, clients: clients, requests: requests, tasks: names, pauseMs: pauseMs,
                                           kind: client, background: nil)
        outcome.errors += idle.errors
        print(idle.line(name: "idle", background: "-") + daemon.memoryNote())

        // During installs: new tasks and new versions of existing ones, back to back on one connection.
        let installBackground = LoadBackground { [names] iteration in
            let task = iteration % 2 == 0 ? "extra\(iteration)" : names[iteration % names.count]
            let adapter = acceptedAdapters[iteration % acceptedAdapters.count]
            let data = try await admin.callRaw(method: "install", paramsJSON: LoadCorpus.json(adapter
                .variant(10_000 + iteration).params(task: task)))
            return !String(decoding: data, as: UTF8.self).contains(#""error""#)
        }
        let installs = try await LoadPhase.run(socket: socket, clients: clients, requests: requests, tasks: names,
                                               pauseMs: pauseMs, kind: client, background: installBackground)
        outcome.errors += installs.errors
        print(installs.line(name: "during installs", background: installBackground.summary(what: "installs")) + daemon.memoryNote())

        // During re-clustering: alternate two budgets below the served bytes, so each run merges anew.
        guard hasRecluster else {
            print("during re-cluster: skipped: daemon has no recluster")
            return outcome
        }
        let served = try await admin.call(Methods.Status.self, NoParams()).budget.servedBytes
        let budgets = [served / 2, served * 7 / 10]
        let reclusterBackground = LoadBackground { iteration in
            let data = try await admin.callRaw(method: "recluster", paramsJSON: #"{"budget":\#(budgets[iteration % 2]),"dryRun":false}"#)
            let text = String(decoding: data, as: UTF8.self)
            if text.contains(#""error""#) { FileHandle.standardError.write(Data("recluster: \(text.prefix(300))\n".utf8)) }
            return !text.contains(#""error""#)
        }
        let recluster = try await LoadPhase.run(socket: socket, clients: clients, requests: requests, tasks: names,
                                                pauseMs: pauseMs, kind: client, background: reclusterBackground)
        outcome.errors += recluster.errors
        print(recluster.line(name: "during re-cluster", background: reclusterBackground.summary(what: "re-clusterings")) + daemon.memoryNote())
        let p99 = recluster.percentile("route", 0.99) * 1e3
        guard goalMs > 0 else {
            print(String(format: "errors: %d; route p99 during re-clustering %.2f ms (no goal checked: --goal-ms 0)",
                         outcome.errors, p99))
            return outcome
        }
        outcome.goalMissed = !(p99 < goalMs) || reclusterBackground.completed == 0
        print(String(format: "goal: zero errors (%d) and route p99 under %.1f ms during re-clustering (%.2f ms): %@",
                     outcome.errors, goalMs, p99, outcome.errors == 0 && !outcome.goalMissed ? "met" : "MISSED"))
        return outcome
    }
}

/// One phase: `clients` connections, each issuing `requests` calls (route, route, status, route, list,
/// route, … ) while `background` (if any) runs operations in a loop; latencies of requests issued while
/// a background operation was running are kept apart from the others.
struct LoadPhase {
    var samples: [String: [Double]] = [:]
    var errors = 0
    var errorExamples: [String] = []
    var seconds = 0.0
    var requests = 0
    /// Requests issued while no background operation was running (excluded from the latencies).
    var outside = 0

    static let pattern = ["route", "status", "route", "list", "route"]

    /// Adds one client's counts and latencies.
    mutating func add(_ phase: LoadPhase) {
        requests += phase.requests
        errors += phase.errors
        outside += phase.outside
        errorExamples += phase.errorExamples
        for (method, values) in phase.samples { samples[method, default: []] += values }
    }

    static func run(socket: String, clients: Int, requests: Int, tasks: [String], pauseMs: Double,
                    kind: LoadClientKind, background: LoadBackground?) async throws -> LoadPhase {
        let done = NIOLockedValueBox(false)
        let backgroundTask = background.map { background in Task { await background.loop(until: done) } }
        if let background { await background.waitUntilStarted() }
        let start = ContinuousClock.now
        let results = kind == .raw
            ? try await runRaw(socket: socket, clients: clients, requests: requests, tasks: tasks, pauseMs: pauseMs, background: background)
            : try await withThrowingTaskGroup(of: LoadPhase.self) { group in
            for clientIndex in 0..<clients {
                group.addTask {
                    var phase = LoadPhase()
                    var pauses = LoadPauses(meanMs: pauseMs, client: clientIndex)
                    let client = try await AdapterdClient.connect(socketPath: socket)
                    if let first = pauses.firstDelayMicroseconds() { try? await Task.sleep(for: .microseconds(first)) }
                    for index in 0..<requests {
                        let method = pattern[(index + clientIndex) % pattern.count]
                        let during = background?.isRunning ?? true
                        let begin = ContinuousClock.now
                        do {
                            switch method {
                            case "route":
                                _ = try await client.call(Methods.Route.self, RouteParams(task: tasks[(index * 7 + clientIndex) % tasks.count]))
                            case "status":
                                _ = try await client.call(Methods.Status.self, NoParams())
                            default:
                                _ = try await client.call(Methods.List.self, NoParams())
                            }
                            let elapsed = Stopwatch.seconds(ContinuousClock.now - begin)
                            if during { phase.samples[method, default: []].append(elapsed) } else { phase.outside += 1 }
                        } catch {
                            phase.errors += 1
                            if phase.errorExamples.count < 3 { phase.errorExamples.append("\(method): \(error)") }
                        }
                        phase.requests += 1
                        if let pause = pauses.nextMicroseconds() { try? await Task.sleep(for: .microseconds(pause)) }
                    }
                    await client.close()
                    return phase
                }
            }
            var total = LoadPhase()
            for try await phase in group { total.add(phase) }
            return total
        }
        var phase = results
        phase.seconds = Stopwatch.seconds(ContinuousClock.now - start)
        done.withLockedValue { $0 = true }
        await backgroundTask?.value
        for example in phase.errorExamples.prefix(3) { FileHandle.standardError.write(Data("load error: \(example)\n".utf8)) }
        return phase
    }

    /// The phase with `LoadConnection`s, one thread each, issuing the same sequence of requests as
    /// the typed clients.
    static func runRaw(socket: String, clients: Int, requests: Int, tasks: [String], pauseMs: Double,
                       background: LoadBackground?) async throws -> LoadPhase {
        let connections = try (0..<clients).map { _ in try LoadConnection(socketPath: socket) }
        let requestFrames: [String: [Data]] = [
            "route": tasks.map { LoadConnection.frame(#"{"jsonrpc":"2.0","id":1,"method":"route","params":{"task":"\#($0)"}}"#) },
            "status": [LoadConnection.frame(#"{"jsonrpc":"2.0","id":1,"method":"status"}"#)],
            "list": [LoadConnection.frame(#"{"jsonrpc":"2.0","id":1,"method":"list"}"#)],
        ]
        let results = NIOLockedValueBox<[LoadPhase]>([])
        let finished = DispatchGroup()
        for (clientIndex, connection) in connections.enumerated() {
            finished.enter()
            let thread = Thread {
                var phase = LoadPhase()
                var pauses = LoadPauses(meanMs: pauseMs, client: clientIndex)
                if let first = pauses.firstDelayMicroseconds() { usleep(UInt32(first)) }
                for index in 0..<requests {
                    let method = pattern[(index + clientIndex) % pattern.count]
                    let frames = requestFrames[method]!
                    let frame = method == "route" ? frames[(index * 7 + clientIndex) % frames.count] : frames[0]
                    let during = background?.isRunning ?? true
                    let begin = ContinuousClock.now
                    do {
                        let response = try connection.call(frame)
                        let elapsed = Stopwatch.seconds(ContinuousClock.now - begin)
                        // Sorted keys: a success starts with `{"id":`, an error with `{"error":`.
                        if response.starts(with: Data(#"{"id":"#.utf8)) {
                            if during { phase.samples[method, default: []].append(elapsed) } else { phase.outside += 1 }
                        } else {
                            phase.errors += 1
                            if phase.errorExamples.count < 3 {
                                phase.errorExamples.append("\(method): \(String(decoding: response.prefix(300), as: UTF8.self))")
                            }
                        }
                    } catch {
                        phase.errors += 1
                        if phase.errorExamples.count < 3 { phase.errorExamples.append("\(method): \(error)") }
                    }
                    phase.requests += 1
                    if let pause = pauses.nextMicroseconds() { usleep(UInt32(pause)) }
                }
                connection.close()
                results.withLockedValue { $0.append(phase) }
                finished.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            finished.notify(queue: .global()) { continuation.resume() }
        }
        var total = LoadPhase()
        for phase in results.withLockedValue({ $0 }) { total.add(phase) }
        return total
    }

    func percentile(_ method: String, _ q: Double) -> Double {
        ServerBench.percentile(samples[method] ?? [], q)
    }

    func line(name: String, background: String) -> String {
        func pair(_ method: String) -> String {
            String(format: "%7.2f / %-7.2f", percentile(method, 0.5) * 1e3, percentile(method, 0.99) * 1e3)
        }
        let padded = name.padding(toLength: 20, withPad: " ", startingAt: 0)
        return String(format: "%@ %9d %7d %9.0f   %@    %@     %@   %@", padded, requests, errors,
                      Double(requests) / max(seconds, 1e-9), pair("route"), pair("status"), pair("list"),
                      background + (outside > 0 ? " (\(outside) requests outside an operation not timed)" : ""))
    }
}

/// A client's pauses between requests: uniform in ½–1½ of the mean, and a first delay uniform in
/// 0–1 mean, from a generator seeded by the client's index (the same run pauses the same way). Equal
/// fixed pauses kept the clients in lockstep: all of them woke together and queued behind each other
/// (idle route p99 7.6 ms in one run, 1.9 ms in the next, depending on how they happened to start).
struct LoadPauses {
    let meanMicroseconds: Double
    var generator: SeededGenerator

    init(meanMs: Double, client: Int) {
        meanMicroseconds = max(0, meanMs) * 1000
        generator = SeededGenerator(seed: 0x10AD_0000 &+ UInt64(client))
    }

    mutating func firstDelayMicroseconds() -> Int? {
        meanMicroseconds > 0 ? Int(Double.random(in: 0..<meanMicroseconds, using: &generator)) : nil
    }

    mutating func nextMicroseconds() -> Int? {
        meanMicroseconds > 0 ? Int(Double.random(in: 0.5 * meanMicroseconds...1.5 * meanMicroseconds, using: &generator)) : nil
    }
}

/// How the load benchmark's read clients talk to the daemon.
enum LoadClientKind: String, ExpressibleByArgument, Sendable {
    case raw, typed
}

/// A lean blocking client for the load benchmark: one request at a time on a Unix socket, frames
/// written and read with plain system calls, no JSON decoding (the daemon answers in order).
final class LoadConnection: @unchecked Sendable {
    private let fd: Int32

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    init(socketPath: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8)
        guard path.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close()
            throw Failure(description: "socket path too long: \(socketPath)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path)
            raw[path.count] = 0
        }
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            let code = errno
            close()
            throw Failure(description: "cannot connect to \(socketPath): errno \(code)")
        }
    }

    /// A request frame: the 4-byte big-endian length, then the JSON text.
    static func frame(_ json: String) -> Data {
        let payload = Data(json.utf8)
        var length = UInt32(payload.count).bigEndian
        return Data(bytes: &length, count: 4) + payload
    }

    /// Sends one frame and returns the payload of the next frame the daemon sends.
    func call(_ frame: Data) throws -> Data {
        try frame.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { throw Failure(description: "write: errno \(errno)") }
                offset += written
            }
        }
        var header = [UInt8](repeating: 0, count: 4)
        try readFully(&header)
        let length = header.reduce(0) { $0 << 8 | Int($1) }
        var payload = [UInt8](repeating: 0, count: length)
        try readFully(&payload)
        return Data(payload)
    }

    private func readFully(_ buffer: inout [UInt8]) throws {
        let count = buffer.count
        try buffer.withUnsafeMutableBytes { raw in
            var offset = 0
            while offset < count {
                let got = read(fd, raw.baseAddress! + offset, count - offset)
                if got < 0 && errno == EINTR { continue }
                guard got > 0 else { throw Failure(description: got == 0 ? "the daemon closed the connection" : "read: errno \(errno)") }
                offset += got
            }
        }
    }

    func close() {
        _ = Glibc.close(fd)
    }
}

/// Operations run back to back on one connection during a phase (installs, re-clusterings).
final class LoadBackground: Sendable {
    private struct State {
        var running = false
        var started = false
        var completed = 0
        var failed = 0
        var durations: [Double] = []
    }

    private let state = NIOLockedValueBox(State())
    private let operation: @Sendable (Int) async throws -> Bool

    init(operation: @escaping @Sendable (Int) async throws -> Bool) {
        self.operation = operation
    }

    var isRunning: Bool { state.withLockedValue { $0.running } }
    var completed: Int { state.withLockedValue { $0.completed } }

    func loop(until done: NIOLockedValueBox<Bool>) async {
        var iteration = 0
        while !done.withLockedValue({ $0 }) {
            state.withLockedValue { $0.running = true; $0.started = true }
            let begin = ContinuousClock.now
            let ok = (try? await operation(iteration)) ?? false
            let elapsed = Stopwatch.seconds(ContinuousClock.now - begin)
            state.withLockedValue { state in
                state.running = false
                if ok { state.completed += 1; state.durations.append(elapsed) } else { state.failed += 1 }
            }
            iteration += 1
        }
    }

    func waitUntilStarted() async {
        while !state.withLockedValue({ $0.started }) { try? await Task.sleep(for: .milliseconds(1)) }
    }

    func summary(what: String) -> String {
        state.withLockedValue { state in
            String(format: "%d %@ (median %.0f ms)%@", state.completed, what,
                   ServerBench.percentile(state.durations, 0.5) * 1e3, state.failed > 0 ? ", \(state.failed) failed" : "")
        }
    }
}

/// Benign adapters of the corpus manifest, and install params for bit-flipped variants of them.
enum LoadCorpus {
    struct Adapter: Sendable {
        var name: String
        var config: String
        var weights: Data
        var examples: String

        func params(task: String) -> InstallParams {
            InstallParams(task: task, config: config, safetensors: weights.base64EncodedString(), examples: examples)
        }

        /// The lowest bit of one weight byte flipped: other bytes and digest, practically the same adapter.
        func variant(_ index: Int) -> Adapter {
            var copy = self
            guard weights.count > 8 else { return copy }
            let headerLength = weights.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
            let dataStart = 8 + Int(clamping: headerLength)
            guard dataStart < weights.count else { return copy }
            let position = dataStart + (4 * index) % max(1, weights.count - dataStart)
            copy.weights[copy.weights.startIndex + position] ^= 1
            copy.name = "\(name)~\(index)"
            return copy
        }
    }

    static func benignAdapters(root: String, maximumBytes: Int) throws -> [Adapter] {
        guard let data = FileManager.default.contents(atPath: root + "/manifest.json"),
              let manifest = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let entries = manifest["adapters"] as? [[String: Any]] else {
            throw ValidationError("no corpus manifest at \(root)/manifest.json (pass --corpus)")
        }
        var found: [(Int, Adapter)] = []
        for entry in entries where (entry["poisoned"] as? Bool) == false {
            guard let id = entry["id"] as? String, let task = entry["task"] as? String else { continue }
            let directory = root + "/" + ((entry["path"] as? String) ?? "adapters/\(id)")
            guard let weights = FileManager.default.contents(atPath: directory + "/adapter_model.safetensors"),
                  weights.count <= maximumBytes,
                  let config = try? String(contentsOfFile: directory + "/adapter_config.json", encoding: .utf8),
                  let examples = try? String(contentsOfFile: root + "/tasks/\(task)/few.jsonl", encoding: .utf8) else { continue }
            found.append((weights.count, Adapter(name: id, config: config, weights: weights, examples: examples)))
        }
        // Largest first: re-clustering them is real work.
        return found.sorted { $0.0 > $1.0 }.map(\.1)
    }

    static func json(_ params: InstallParams) throws -> String {
        String(decoding: try JSONEncoder().encode(params), as: UTF8.self)
    }
}

/// The adapterd child process of the load benchmark.
final class LoadDaemon: @unchecked Sendable {
    let process = Process()

    init(executable: String, arguments: [String], socket: String, log: String) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        for key in ["NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "WATCHDOG_USEC"] { environment.removeValue(forKey: key) }
        process.environment = environment
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = FileHandle(forWritingAtPath: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: socket) {
            guard process.isRunning else {
                throw ValidationError("adapterd exited: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            }
            guard Date() < deadline else { throw ValidationError("adapterd did not create \(socket) within 60 s") }
            usleep(20_000)
        }
        usleep(100_000)
    }

    /// VmRSS of the daemon (or another field of /proc/PID/status given in kB, such as VmHWM, the peak).
    func residentBytes(field: String = "VmRSS:") -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field) }),
              let kib = Int(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kib * 1024
    }

    /// ", RSS x MiB (peak y)": the daemon's memory at the end of a phase.
    func memoryNote() -> String {
        String(format: ", RSS %.0f MiB (peak %.0f)", Double(residentBytes()) / 1_048_576,
               Double(residentBytes(field: "VmHWM:")) / 1_048_576)
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }
}
