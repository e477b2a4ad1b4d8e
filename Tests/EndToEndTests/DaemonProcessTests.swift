import AdapterProtocol
import AdapterdTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The real adapterd binary: start-up, adapterctl exit codes, the python client, socket activation,
/// sd_notify, signals, malformed and unprivileged clients. No adapter is installed here.
@Suite("adapterd process", .serialized)
struct DaemonProcessTests {
    @Test func adapterctlAndThePythonClientTalkToTheDaemon() throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let daemon = try DaemonProcess(sandbox: sandbox, arguments: DaemonProcess.arguments(sandbox, budget: "64MiB"))

        let status = try adapterctl(sandbox.socket, ["status", "--json"])
        #expect(status.status == 0, "\(status.stderr)")
        let json = try #require(status.json)
        #expect(json["daemon"] as? String == "adapterd")
        #expect(json["tasks"] as? Int == 0)
        #expect((json["budget"] as? [String: Any])?["limitBytes"] as? Int == 64 * 1024 * 1024)
        #expect(json["socketActivated"] as? Bool == false)
        #expect(json["schema"] as? Int == 1)   // adapterctl's --json schema version
        // Global options before the subcommand too (systemctl -H, docker -H, git -C).
        let front = try run(Paths.adapterctl, ["--socket", sandbox.socket, "--json", "status"])
        #expect(front.status == 0, "\(front.stderr)")
        #expect(front.json?["daemon"] as? String == "adapterd")
        #expect(try run(Paths.adapterctl, ["--socket=\(sandbox.socket)", "list", "--json"]).json?["schema"] as? Int == 1)

        let readable = try adapterctl(sandbox.socket, ["status"])
        #expect(readable.stdout.contains("budget:"))
        #expect(readable.stdout.contains("64.0 MiB"))

        // Exit codes: 1 not found, 2 usage, 3 cannot connect.
        #expect(try adapterctl(sandbox.socket, ["route", "--task", "nothing"]).status == 1)
        #expect(try adapterctl(sandbox.socket, ["show", "nothing"]).status == 1)
        #expect(try adapterctl(sandbox.socket, ["budget", "12 parsecs"]).status == 2)
        #expect(try adapterctl(sandbox.socket, ["install", "/nonexistent", "--task", "t", "--examples", "/nonexistent"]).status == 2)
        #expect(try adapterctl(sandbox.socket, ["frobnicate"]).status == 2)
        let missing = try adapterctl(sandbox.root + "/nothing.sock", ["status"])
        #expect(missing.status == 3)
        #expect(missing.stderr.contains("cannot connect"))
        let viaEnvironment = try run(Paths.adapterctl, ["status", "--json"], environment: ["ADAPTERD_SOCKET": sandbox.socket])
        #expect(viaEnvironment.status == 0)

        // Budget: the --budget flag's is the initial one; `adapterctl budget` changes it at run time.
        let budget = try adapterctl(sandbox.socket, ["budget", "--json"])
        #expect(budget.json?["limitBytes"] as? Int == 64 * 1024 * 1024)
        #expect(budget.json?["source"] as? String == "--budget")
        #expect(try adapterctl(sandbox.socket, ["budget", "32MiB"]).status == 0)
        #expect(try adapterctl(sandbox.socket, ["budget", "--json"]).json?["limitBytes"] as? Int == 32 * 1024 * 1024)

        // The python client, written from docs/PROTOCOL.md.
        let pyStatus = try python(sandbox.socket, ["call", "status"])
        #expect(pyStatus.status == 0, "\(pyStatus.stderr)")
        #expect((pyStatus.json?["result"] as? [String: Any])?["protocolVersion"] as? Int == 1)
        let pyMissing = try python(sandbox.socket, ["call", "route", #"{"task":"nothing"}"#])
        #expect(pyMissing.status == 1)
        #expect(pyMissing.json?.errorCode == RPCErrorCode.notFound.rawValue)
        let pyUnknown = try python(sandbox.socket, ["call", "no.such.method"])
        #expect(pyUnknown.json?.errorCode == RPCErrorCode.methodNotFound.rawValue)
        let pyConfig = try python(sandbox.socket, ["call", "config.get"])
        #expect((pyConfig.json?["result"] as? [String: Any])?["stateDir"] as? String == sandbox.state)

        let completion = try run(Paths.adapterctl, ["--generate-completion-script", "bash"])
        #expect(completion.status == 0)
        #expect(completion.stdout.contains("adapterctl"))
        let help = try run(Paths.adapterctl, ["--help"])
        #expect(help.stdout.contains("Exit status"))

        #expect(try daemon.stop() == 0)
        #expect(!FileManager.default.fileExists(atPath: sandbox.socket))
    }

    @Test func budgetSetIsPersistedWhenNoFlagFixesIt() throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let arguments = ["--socket", sandbox.socket, "--state-dir", sandbox.state] + DaemonProcess.detectorArguments
        var daemon = try DaemonProcess(sandbox: sandbox, arguments: arguments)
        let set = try adapterctl(sandbox.socket, ["budget", "48MiB", "--json"])
        #expect(set.status == 0, "\(set.stderr)")
        #expect(set.json?["limitBytes"] as? Int == 48 * 1024 * 1024)
        try daemon.stop()
        daemon = try DaemonProcess(sandbox: sandbox, arguments: arguments)
        #expect(try adapterctl(sandbox.socket, ["budget", "--json"]).json?["limitBytes"] as? Int == 48 * 1024 * 1024)
        let unlimited = try adapterctl(sandbox.socket, ["budget", "unlimited", "--json"])
        #expect(unlimited.json?["limitBytes"] == nil)
        try daemon.stop()
    }

    @Test func badFlagsAndConfigurationFailWithClearMessages() throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let badBudget = try run(Paths.adapterd, ["--socket", sandbox.socket, "--state-dir", sandbox.state, "--budget", "lots"])
        #expect(badBudget.status != 0)
        #expect(badBudget.stderr.contains("lots"))
        try "budgt = 1GB\n".write(toFile: sandbox.root + "/bad.conf", atomically: true, encoding: .utf8)
        let badConfig = try run(Paths.adapterd, ["--config", sandbox.root + "/bad.conf", "--socket", sandbox.socket,
                                                 "--state-dir", sandbox.state])
        #expect(badConfig.status == 2)
        #expect(badConfig.stderr.contains("unknown key 'budgt'"))
    }

    @Test func socketActivationUsesTheInheritedSocket() throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let daemon = try DaemonProcess(
            sandbox: sandbox,
            arguments: ["-l", sandbox.socket, Paths.adapterd, "--socket", sandbox.root + "/unused.sock", "--state-dir", sandbox.state] + DaemonProcess.detectorArguments,
            executable: "/usr/bin/systemd-socket-activate", waitForSocket: false)
        // systemd-socket-activate listens at once and execs adapterd at the first connection.
        try daemon.waitForLog("Listening on")
        let status = try adapterctl(sandbox.socket, ["status", "--json"])
        #expect(status.status == 0, "\(status.stderr) LOG: \(daemon.log)")
        #expect(status.json?["socketActivated"] as? Bool == true)
        #expect(!FileManager.default.fileExists(atPath: sandbox.root + "/unused.sock"))
        try daemon.stop()
    }

    @Test func readinessAndStoppingAreNotifiedToSystemd() throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let notify = try DatagramListener(path: sandbox.root + "/notify.sock")
        let daemon = try DaemonProcess(
            sandbox: sandbox, arguments: DaemonProcess.arguments(sandbox),
            environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"], waitForSocket: false)
        let ready = try #require(notify.receive(until: { $0.contains("READY=1") }, timeout: 60), "no READY=1; log: \(daemon.log)")
        #expect(ready.contains("STATUS=serving 0 tasks"))
        #expect(try adapterctl(sandbox.socket, ["status"]).status == 0)
        // WATCHDOG_USEC without WATCHDOG_PID applies to this process: pings every 200 ms.
        #expect(notify.receive(until: { $0.contains("WATCHDOG=1") }, timeout: 5) != nil)
        daemon.signal(SIGHUP)
        #expect(notify.receive(until: { $0.contains("RELOADING=1") }, timeout: 10) != nil)
        #expect(notify.receive(until: { $0.contains("READY=1") }, timeout: 10) != nil)
        daemon.signal(SIGTERM)
        #expect(notify.receive(until: { $0.contains("STOPPING=1") }, timeout: 10) != nil)
        #expect(try daemon.wait() == 0)
    }

    @Test func malformedAndSlowClientsDoNotStopOthers() throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        try "idle-timeout = 1\nmax-read-only-request = 64KiB\n".write(toFile: sandbox.root + "/a.conf", atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(sandbox: sandbox, arguments: DaemonProcess.arguments(sandbox, extra: ["--config", sandbox.root + "/a.conf"]))

        let garbage = try RawSocket(path: sandbox.socket)
        try garbage.send(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        let tooLarge = try #require(garbage.receiveMessage())
        #expect(tooLarge.errorCode == RPCErrorCode.tooLarge.rawValue)
        #expect(garbage.isClosedByPeer())

        let notJSON = try RawSocket(path: sandbox.socket)
        try notJSON.sendFrame("\u{01}\u{02} definitely not json")
        #expect(notJSON.receiveMessage()?.errorCode == RPCErrorCode.parseError.rawValue)

        let slow = try RawSocket(path: sandbox.socket, receiveTimeout: 10)
        try slow.send([0x00, 0x00, 0x00, 0x30, 0x7B])
        let truncated = try RawSocket(path: sandbox.socket)
        try truncated.send([0x00, 0x00, 0x10])

        // Others keep being served while the slow one waits to be dropped.
        for _ in 0..<5 {
            #expect(try adapterctl(sandbox.socket, ["status", "--json"]).status == 0)
        }
        #expect(slow.isClosedByPeer())
        #expect(try python(sandbox.socket, ["call", "status"]).status == 0)
        #expect(try daemon.stop() == 0)
    }

    @Test func unprivilegedPeersMayReadButNotChange() throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let daemon = try DaemonProcess(sandbox: sandbox, arguments: ["--socket", sandbox.socket, "--state-dir", sandbox.state] + DaemonProcess.detectorArguments)
        let nobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        // The daemon sets mode 0660 just before it logs "listening on"; only then is the mode its own.
        try daemon.waitForLog("listening on")
        // Mode 0660 keeps others out entirely.
        let denied = try python(sandbox.socket, ["call", "status"], prefix: nobody)
        #expect(denied.status == 3, "\(denied.stdout) \(denied.stderr)")
        #expect(denied.stderr.contains("Permission denied"))
        // Opened up, they may read but not mutate.
        chmod(sandbox.socket, 0o666)
        let status = try python(sandbox.socket, ["call", "status"], prefix: nobody)
        let peer = (status.json?["result"] as? [String: Any])?["peer"] as? [String: Any]
        #expect(peer?["uid"] as? Int == 65534)
        #expect(peer?["mayMutate"] as? Bool == false)
        let change = try python(sandbox.socket, ["call", "budget.set", #"{"bytes":1024}"#], prefix: nobody)
        #expect(change.json?.errorCode == RPCErrorCode.unauthorized.rawValue)
        let remove = try run(nobody[0], Array(nobody.dropFirst()) + [Paths.adapterctl, "remove", "x", "--socket", sandbox.socket])
        #expect(remove.status == 4, "\(remove.stderr)")
        // Their frames are limited to max-read-only-request (1 MiB).
        let big = String(repeating: "a", count: 2 * 1024 * 1024)
        try #"{"pad":"\#(big)"}"#.write(toFile: sandbox.root + "/big.json", atomically: true, encoding: .utf8)
        let oversized = try python(sandbox.socket, ["call", "status", "@" + sandbox.root + "/big.json"], prefix: nobody)
        #expect(oversized.json?.errorCode == RPCErrorCode.tooLarge.rawValue, "\(oversized.stderr)")
        try daemon.stop()
    }
}

/// A datagram socket standing in for systemd's notification socket.
final class DatagramListener {
    let path: String
    let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        let result = withUnixSocketAddress(path) { bind(fd, $0, $1) }
        guard result == 0 else { throw HarnessError("bind \(path) failed") }
    }

    deinit { close(fd) }

    /// Reads datagrams until one satisfies `predicate`; nil on timeout.
    func receive(until predicate: (String) -> Bool, timeout: Double) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let remaining = Int32(max(1, deadline.timeIntervalSinceNow * 1000))
            guard poll(&poller, 1, remaining) > 0 else { continue }
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { continue }
            let message = String(decoding: buffer[0..<count], as: UTF8.self)
            if predicate(message) { return message }
        }
        return nil
    }
}
