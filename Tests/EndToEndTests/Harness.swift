import AdapterProtocol
import AdapterdTestSupport
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

/// A child process started with posix_spawn and reaped by this object alone (waitpid on its own
/// pid). The tests use this instead of Foundation's Process, whose Linux implementation updates its
/// state from a monitor thread without synchronisation (a test that starts and kills many daemons
/// raced it), and sometimes missed the exit of a short-lived child while another child execs.
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    private let lock = NSLock()
    private var status: Int32?

    /// Starts `executable` with stdin from /dev/null and stdout/stderr appended to `outputPath` and
    /// `errorPath` (the same file for both is fine). The environment is this process's, without
    /// systemd's variables, plus `environment`.
    init(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
         outputPath: String, errorPath: String) throws {
        var env = ProcessInfo.processInfo.environment
        for key in ["NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "JOURNAL_STREAM", "WATCHDOG_USEC"] {
            env.removeValue(forKey: key)
        }
        for (key, value) in environment { env[key] = value }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        if errorPath == outputPath {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        }
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard spawned == 0 else { throw HarnessError("cannot run \(executable): \(String(cString: strerror(spawned)))") }
        self.pid = pid
    }

    /// The exit status once the child has ended (its exit code, or 128 + the signal that ended it);
    /// nil while it runs. Reaps the child the first time it is seen ended.
    var exitStatus: Int32? {
        lock.lock()
        defer { lock.unlock() }
        if status == nil {
            var raw: Int32 = 0
            let result = waitpid(pid, &raw, WNOHANG)
            if result == pid {
                status = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
            } else if result == -1 && errno == ECHILD {
                status = -1   // reaped elsewhere: gone, status unknown
            }
        }
        return status
    }

    var isRunning: Bool { exitStatus == nil }

    /// Sends a signal while the child has not been reaped (so its pid cannot have been reused).
    func signal(_ number: Int32) {
        lock.lock()
        defer { lock.unlock() }
        if status == nil { kill(pid, number) }
    }

    /// Waits for the end; after `timeout` seconds kills the child and throws.
    @discardableResult
    func wait(timeout: Double, what: @autoclosure () -> String = "") throws -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let status = exitStatus { return status }
            if Date() > deadline {
                signal(SIGKILL)
                while exitStatus == nil { usleep(2000) }
                throw HarnessError("\(what()) did not exit within \(timeout) s")
            }
            usleep(2000)
        }
    }

    deinit {
        if isRunning {
            signal(SIGKILL)
            while exitStatus == nil { usleep(2000) }
        }
    }
}

/// Runs an executable to completion and returns its status and output.
func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
         timeout: Double = 120) throws -> CommandResult {
    let base = FileManager.default.temporaryDirectory.path + "/adapterd-run-\(UUID().uuidString)"
    defer {
        try? FileManager.default.removeItem(atPath: base + ".out")
        try? FileManager.default.removeItem(atPath: base + ".err")
    }
    let child = try ChildProcess(executable, arguments, environment: environment,
                                 outputPath: base + ".out", errorPath: base + ".err")
    let exitStatus = try child.wait(timeout: timeout, what: "\(executable) \(arguments)")
    let stdout = (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? ""
    let stderr = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
    return CommandResult(status: exitStatus, stdout: stdout, stderr: stderr)
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
        root = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        chmod(root, 0o755)
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }
}

/// A running adapterd child process.
final class DaemonProcess: @unchecked Sendable {
    let process: ChildProcess
    let logPath: String
    let socket: String

    /// Starts `command` (adapterd, or a wrapper such as systemd-socket-activate) and waits until the
    /// socket answers `status`.
    init(sandbox: Sandbox, arguments: [String] = [], executable: String = Paths.adapterd,
         environment: [String: String] = [:], waitForSocket: Bool = true) throws {
        socket = sandbox.socket
        logPath = sandbox.root + "/adapterd-\(UUID().uuidString.prefix(8)).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process = try ChildProcess(executable, arguments, environment: environment, outputPath: logPath, errorPath: logPath)
        if waitForSocket { try waitUntilServing() }
    }

    /// Standard adapterd arguments for a sandbox.
    static func arguments(_ sandbox: Sandbox, budget: String = "unlimited", extra: [String] = []) -> [String] {
        ["--socket", sandbox.socket, "--state-dir", sandbox.state, "--budget", budget] + detectorArguments + extra
    }

    /// `--detector-model FILE` when $ADAPTERD_DETECTOR_MODEL names one (otherwise the built-in model).
    static var detectorArguments: [String] {
        guard let file = ProcessInfo.processInfo.environment["ADAPTERD_DETECTOR_MODEL"], !file.isEmpty else { return [] }
        return ["--detector-model", file]
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func waitUntilServing(timeout: Double = 60) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let status = process.exitStatus {
                throw HarnessError("adapterd exited with \(status): \(log)")
            }
            if (try? canConnect()) == true { return }
            usleep(20_000)
        }
        throw HarnessError("adapterd did not start serving within \(timeout) s: \(log)")
    }

    private func canConnect() throws -> Bool {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        return withUnixSocketAddress(socket) { connect(fd, $0, $1) } == 0
    }

    /// Waits until the log contains `text` (e.g. the daemon's "listening on" line).
    func waitForLog(_ text: String, timeout: Double = 60) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !log.contains(text) {
            guard Date() < deadline else { throw HarnessError("no '\(text)' in the log within \(timeout) s: \(log)") }
            usleep(20_000)
        }
    }

    /// Sends a signal.
    func signal(_ number: Int32) {
        process.signal(number)
    }

    /// SIGTERM, then waits; returns the exit status.
    @discardableResult
    func stop(timeout: Double = 30) throws -> Int32 {
        if process.isRunning { signal(SIGTERM) }
        return try wait(timeout: timeout)
    }

    /// Waits for the daemon to exit (SIGKILL after `timeout`); returns its exit status (128 + signal
    /// when a signal ended it).
    @discardableResult
    func wait(timeout: Double = 30) throws -> Int32 {
        do {
            return try process.wait(timeout: timeout, what: "adapterd")
        } catch {
            throw HarnessError("\(error): \(log)")
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
    var examples: String { Corpus.root + "/tasks/\(task)/few.jsonl" }
}

enum Corpus {
    /// $ADAPTERD_CORPUS, else data/corpus of this package.
    static let root = ProcessInfo.processInfo.environment["ADAPTERD_CORPUS"] ?? Paths.packageRoot + "/data/corpus"

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
