import AdapterProtocol
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Locations of the package, the built executables and the test data.
enum Paths {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    /// Directory of adapterd and adapterctl: $ADAPTERD_BIN_DIR, else next to the test bundle, else .build/debug.
    static let binaries: String = {
        if let directory = ProcessInfo.processInfo.environment["ADAPTERD_BIN_DIR"] { return directory }
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path,
            Bundle.main.bundleURL.deletingLastPathComponent().path,
            packageRoot + "/.build/debug",
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0 + "/adapterd") } ?? packageRoot + "/.build/debug"
    }()

    static var adapterd: String { binaries + "/adapterd" }
    static var adapterctl: String { binaries + "/adapterctl" }
    static var pythonClient: String { packageRoot + "/Tests/EndToEndTests/python_client.py" }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The result of running a command to completion.
struct CommandResult: Sendable {
    let status: Int32
    let stdout: String
    let stderr: String

    /// stdout parsed as a JSON object.
    var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any]
    }
}

/// Runs an executable and waits for it.
func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
         timeout: Double = 120) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    env.removeValue(forKey: "NOTIFY_SOCKET")
    env.removeValue(forKey: "LISTEN_FDS")
    env.removeValue(forKey: "LISTEN_PID")
    for (key, value) in environment { env[key] = value }
    process.environment = env
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = NSLockedData()
    let errData = NSLockedData()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { outData.set(out.fileHandleForReading.readDataToEndOfFile()); group.leave() }
    group.enter()
    DispatchQueue.global().async { errData.set(err.fileHandleForReading.readDataToEndOfFile()); group.leave() }
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning {
        if Date() > deadline {
            process.terminate()
            throw HarnessError("\(executable) \(arguments) timed out")
        }
        usleep(5000)
    }
    group.wait()
    return CommandResult(status: process.terminationStatus, stdout: String(decoding: outData.get(), as: UTF8.self),
                         stderr: String(decoding: errData.get(), as: UTF8.self))
}

final class NSLockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func set(_ value: Data) { lock.withLock { data = value } }
    func get() -> Data { lock.withLock { data } }
}

/// adapterctl with a socket.
func adapterctl(_ socket: String, _ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
    try run(Paths.adapterctl, arguments + ["--socket", socket], environment: environment)
}

/// The python client.
func python(_ socket: String, _ arguments: [String], prefix: [String] = []) throws -> CommandResult {
    if prefix.isEmpty {
        return try run("/usr/bin/python3", [Paths.pythonClient, socket] + arguments)
    }
    return try run(prefix[0], Array(prefix.dropFirst()) + ["/usr/bin/python3", Paths.pythonClient, socket] + arguments)
}

/// A temporary directory with a state dir and a socket path for one daemon.
final class Sandbox: @unchecked Sendable {
    let root: String
    var socket: String { root + "/adapterd.sock" }
    var state: String { root + "/state" }

    init() throws {
        var template = Array((FileManager.default.temporaryDirectory.path + "/adapterd-e2e-XXXXXX").utf8CString)
        guard mkdtemp(&template) != nil else { throw HarnessError("mkdtemp failed") }
        root = String(cString: template)
        chmod(root, 0o755)
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }
}

/// A running adapterd child process.
final class DaemonProcess: @unchecked Sendable {
    let process = Process()
    let logPath: String
    let socket: String

    /// Starts `command` (adapterd, or a wrapper such as systemd-socket-activate) and waits until the
    /// socket answers `status`.
    init(sandbox: Sandbox, arguments: [String] = [], executable: String = Paths.adapterd,
         environment: [String: String] = [:], waitForSocket: Bool = true) throws {
        socket = sandbox.socket
        logPath = sandbox.root + "/adapterd-\(UUID().uuidString.prefix(8)).log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for key in ["NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "JOURNAL_STREAM", "WATCHDOG_USEC"] {
            env.removeValue(forKey: key)
        }
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let log = FileHandle(forWritingAtPath: logPath)
        process.standardOutput = log
        process.standardError = log
        try process.run()
        if waitForSocket { try waitUntilServing() }
    }

    /// Standard adapterd arguments for a sandbox.
    static func arguments(_ sandbox: Sandbox, budget: String = "unlimited", extra: [String] = []) -> [String] {
        ["--socket", sandbox.socket, "--state-dir", sandbox.state, "--budget", budget] + extra
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func waitUntilServing(timeout: Double = 60) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if !process.isRunning {
                throw HarnessError("adapterd exited with \(process.terminationStatus): \(log)")
            }
            if (try? canConnect()) == true { return }
            usleep(20_000)
        }
        throw HarnessError("adapterd did not start serving within \(timeout) s: \(log)")
    }

    private func canConnect() throws -> Bool {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socket.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() where index < raw.count - 1 { raw[index] = byte }
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        } == 0
    }

    /// Sends a signal.
    func signal(_ number: Int32) {
        kill(process.processIdentifier, number)
    }

    /// SIGTERM, then waits; returns the exit status.
    @discardableResult
    func stop(timeout: Double = 30) throws -> Int32 {
        if process.isRunning { signal(SIGTERM) }
        return try wait(timeout: timeout)
    }

    @discardableResult
    func wait(timeout: Double = 30) throws -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                signal(SIGKILL)
                throw HarnessError("adapterd did not exit within \(timeout) s: \(log)")
            }
            usleep(10_000)
        }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// Adapters for the tests: the corpus (data/corpus, real PEFT adapters the default detector knows),
/// with the examples of their task.
struct CorpusAdapter: Sendable {
    let id: String
    let directory: String
    let task: String
    let poisoned: Bool
    let baseModel: String
    var examples: String { Paths.packageRoot + "/data/corpus/tasks/\(task)/few.jsonl" }
}

enum Corpus {
    static let root = Paths.packageRoot + "/data/corpus"

    /// Every adapter of the manifest whose files exist.
    static func adapters() throws -> [CorpusAdapter] {
        let manifestPath = root + "/manifest.json"
        guard let data = FileManager.default.contents(atPath: manifestPath) else {
            throw HarnessError("the corpus manifest \(manifestPath) is missing")
        }
        guard let manifest = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let entries = manifest["adapters"] as? [[String: Any]] else {
            throw HarnessError("the corpus manifest has no adapters list")
        }
        return entries.compactMap { entry in
            guard let id = entry["id"] as? String, let task = entry["task"] as? String,
                  let poisoned = entry["poisoned"] as? Bool else { return nil }
            let path = (entry["path"] as? String).map { root + "/" + $0 } ?? root + "/adapters/" + id
            guard FileManager.default.fileExists(atPath: path + "/adapter_model.safetensors"),
                  FileManager.default.fileExists(atPath: root + "/tasks/\(task)/few.jsonl") else { return nil }
            return CorpusAdapter(id: id, directory: path, task: task, poisoned: poisoned,
                                 baseModel: entry["base_model"] as? String ?? "")
        }
    }
}
