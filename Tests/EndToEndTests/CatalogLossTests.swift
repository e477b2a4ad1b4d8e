import AdapterProtocol
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The catalog (catalog.sqlite) deleted while objects exist: before a start, adapterd refuses to
/// start empty (which would collect every object as garbage) and says how to recover; with
/// `--recover-catalog` it moves the objects aside, deleting nothing; deleted while running, it
/// notices, refuses changes, keeps serving, and is whole again after a restart.
@Suite("catalog loss", .serialized)
struct CatalogLossTests {
    static func arguments(_ sandbox: Sandbox, extra: [String] = []) -> [String] {
        ["--socket", sandbox.socket, "--state-dir", sandbox.state, "--budget", "unlimited"] + DaemonProcess.detectorArguments + extra
    }

    /// Runs adapterd expecting it to exit on its own; a daemon still running after 30 s is stopped
    /// and reported.
    static func runExpectingRefusal(_ arguments: [String], root: String) throws -> (status: Int32, output: String) {
        let log = root + "/refused-\(UUID().uuidString.prefix(8)).log"
        let child = try ChildProcess(Paths.adapterd, arguments, outputPath: log, errorPath: log)
        let status: Int32
        do {
            status = try child.wait(timeout: 30, what: "adapterd (expected to refuse to start)")
        } catch {
            throw HarnessError("adapterd started instead of refusing: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }
        return (status, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    @Test func aCatalogMissingAtStartIsRefusedAndRecoveryMovesTheObjectsAside() throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        var daemon: DaemonProcess? = try DaemonProcess(sandbox: sandbox, arguments: Self.arguments(sandbox))
        let adapters = try InstallableAdapter.accepted(2, socket: sandbox.socket)
        for (index, adapter) in adapters.enumerated() {
            #expect(adapter.install(sandbox.socket, task: "task\(index)")["result"] != nil)
        }
        try daemon?.stop()
        daemon = nil
        let objects = StateDirectory.objects(sandbox.state)
        #expect(objects.count == 6)   // two tasks: examples, config and weights each
        for suffix in ["", "-wal", "-shm"] { unlink(sandbox.state + "/catalog.sqlite" + suffix) }

        let refused = try Self.runExpectingRefusal(Self.arguments(sandbox), root: sandbox.root)
        #expect(refused.status != 0)
        #expect(refused.output.contains("catalog.sqlite"), "\(refused.output)")
        #expect(refused.output.contains("6 objects"), "\(refused.output)")
        #expect(refused.output.contains("--recover-catalog"), "\(refused.output)")
        // Nothing was deleted, and no empty catalog was left behind to be taken for the real one.
        #expect(StateDirectory.objects(sandbox.state) == objects)
        #expect(!FileManager.default.fileExists(atPath: sandbox.state + "/catalog.sqlite"))

        // Recovery: the objects move to lost+found/<time>/, the daemon starts with an empty catalog.
        let recovered = try DaemonProcess(sandbox: sandbox, arguments: Self.arguments(sandbox, extra: ["--recover-catalog"]))
        let status = try #require(try Call(sandbox.socket, "status").result)
        #expect(status["tasks"] as? Int == 0)
        #expect(StateDirectory.objects(sandbox.state).isEmpty)
        let lostAndFound = sandbox.state + "/lost+found"
        let batches = try FileManager.default.contentsOfDirectory(atPath: lostAndFound)
        try #require(batches.count == 1, "\(batches)")
        #expect(StateDirectory.objects(lostAndFound + "/" + batches[0]) == objects)
        #expect(FileManager.default.fileExists(atPath: lostAndFound + "/" + batches[0] + "/README"))
        #expect(recovered.log.contains("lost+found"), "\(recovered.log)")
        // A recovered daemon takes installs again.
        #expect(adapters[0].install(sandbox.socket, task: "again")["result"] != nil)
        try recovered.stop()
    }

    /// Deleted while running (only catalog.sqlite, or with its -wal and -shm), then a clean stop or a
    /// SIGKILL: `status` reports it at once, changes are refused, and after a restart every task is
    /// back and served.
    @Test(arguments: [(false, false), (true, true), (true, false)])
    func aCatalogDeletedWhileRunningIsNoticedAndWholeAfterARestart(withJournal: Bool, kill: Bool) throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        var daemon = try DaemonProcess(sandbox: sandbox, arguments: Self.arguments(sandbox))
        let adapters = try InstallableAdapter.accepted(2, socket: sandbox.socket)
        #expect(adapters[0].install(sandbox.socket, task: "kept")["result"] != nil)
        let objects = StateDirectory.objects(sandbox.state)

        for suffix in withJournal ? ["", "-wal", "-shm"] : [""] { unlink(sandbox.state + "/catalog.sqlite" + suffix) }
        let status = try #require(try Call(sandbox.socket, "status").result)
        let storage = try #require(status["storage"] as? [String: Any], "status has no storage member: \(status)")
        #expect(storage["readOnly"] as? Bool == true)
        #expect((storage["readOnlyReason"] as? String ?? "").contains("catalog"), "\(storage)")
        // Reads go on; changes are refused with a message that names the cause.
        #expect(try Call(sandbox.socket, "route", #"{"task":"kept"}"#).result != nil)
        let budget = try Call(sandbox.socket, "budget.set", #"{"bytes":1048576}"#)
        #expect(budget.errorCode == RPCErrorCode.readOnly.rawValue, "\(budget.response)")
        #expect(budget.errorMessage.contains("catalog"), "\(budget.errorMessage)")
        let install = adapters[1].install(sandbox.socket, task: "refused")
        #expect((install["error"] as? [String: Any])?["code"] as? Int == RPCErrorCode.readOnly.rawValue, "\(install)")
        #expect(StateDirectory.objects(sandbox.state) == objects)

        if kill {
            daemon.signal(SIGKILL)
            _ = try daemon.wait()
        } else {
            try daemon.stop()
        }
        daemon = try DaemonProcess(sandbox: sandbox, arguments: Self.arguments(sandbox))
        let list = try #require(try Call(sandbox.socket, "list").result)
        #expect((list["tasks"] as? [[String: Any]])?.compactMap { $0["task"] as? String } == ["kept"])
        let route = try #require(try Call(sandbox.socket, "route", #"{"task":"kept"}"#).result)
        let adapter = try #require(route["adapter"] as? [String: Any])
        #expect(try StateDirectory.sha256(ofFile: try #require(adapter["weightsPath"] as? String)) == adapters[0].sha256)
        let after = try #require(try Call(sandbox.socket, "status").result?["storage"] as? [String: Any])
        #expect(after["readOnly"] as? Bool == false, "\(after)")
        #expect(adapters[1].install(sandbox.socket, task: "later")["result"] != nil)
        try daemon.stop()
    }
}
