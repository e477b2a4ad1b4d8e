import AdapterProtocol
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A full or read-only file system under the state directory (root only: a tmpfs, a read-only bind
/// mount): repeated disk-full errors leave the catalog as the answers said, the daemon always starts
/// (read-only when it must), refuses changes with `read only`, says so in `status`, and takes changes
/// again once there is room.
@Suite("full disk", .serialized, .enabled(if: TestMount.isRoot, "needs root to mount a small file system"))
struct FullDiskTests {
    static func arguments(_ sandbox: Sandbox, state: String) -> [String] {
        ["--socket", sandbox.socket, "--state-dir", state, "--budget", "unlimited"] + DaemonProcess.detectorArguments
    }

    /// Task → sha256 of what `list` shows.
    static func listed(_ socket: String) throws -> [String: String] {
        let tasks = try #require(try Call(socket, "list").result?["tasks"] as? [[String: Any]])
        return Dictionary(uniqueKeysWithValues: tasks.map { ($0["task"] as? String ?? "", $0["sha256"] as? String ?? "") })
    }

    static func storage(_ socket: String) throws -> [String: Any] {
        let status = try #require(try Call(socket, "status").result)
        return try #require(status["storage"] as? [String: Any], "status has no storage member: \(status)")
    }

    @Test func repeatedDiskFullLeavesTheCatalogConsistentAndTheDaemonAlwaysStarts() throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let mount = try TestMount.tmpfs(at: sandbox.root + "/small", kibibytes: 6144)
        defer { mount.unmount() }
        let state = mount.path + "/state"
        var daemon = try DaemonProcess(sandbox: sandbox, arguments: Self.arguments(sandbox, state: state))
        let base = try InstallableAdapter.accepted(1, socket: sandbox.socket, smallest: true)[0]
        let adapterBytes = try #require(try FileManager.default.attributesOfItem(atPath: base.directory + "/adapter_model.safetensors")[.size] as? Int)
        var acknowledged: [String: String] = [:]
        // Fill the file system in pieces of 256 KiB, leaving room for about two installs.
        var fillers: [String] = []
        while mount.freeBytes > 2 * adapterBytes + 400 * 1024 {
            let piece = mount.path + "/filler\(fillers.count)"
            try Data(count: min(256 * 1024, mount.freeBytes - 2 * adapterBytes - 400 * 1024)).write(to: URL(fileURLWithPath: piece))
            fillers.append(piece)
        }

        // Install until the disk is full, then free a little (room for the reserve, hardly more) and
        // go on, until three installs have failed: every failure is a clear error and leaves exactly
        // the acknowledged tasks; the daemon keeps serving.
        var failures: [String] = []
        var index = 0
        while failures.count < 3 && index < 300 {
            let adapter = try base.variant(index, under: sandbox.root + "/variants")
            let response = adapter.install(sandbox.socket, task: "t\(index)")
            if response["result"] != nil {
                acknowledged["t\(index)"] = adapter.sha256
            } else {
                let message = (response["error"] as? [String: Any])?["message"] as? String ?? "\(response)"
                failures.append(message)
                #expect(["disk full", "space"].contains { message.lowercased().contains($0) }, "unclear error: \(message)")
                if failures.count < 3 {
                    for _ in 0..<5 where !fillers.isEmpty { unlink(fillers.removeLast()) }
                }
            }
            #expect(try Self.listed(sandbox.socket) == acknowledged, "after install \(index)")
            #expect(daemon.process.isRunning)
            index += 1
        }
        try #require(failures.count == 3, "the file system never filled up")
        print("full disk: \(acknowledged.count) installs acknowledged, then \(failures.map { String($0.prefix(160)) })")
        // While the space reserve is used up (an undo took it) and cannot be put back, the daemon is
        // read-only and says so; changes are refused before they start.
        let reserve = state + "/reserve"
        let running = try Self.storage(sandbox.socket)
        #expect((running["readOnly"] as? Bool) == !FileManager.default.fileExists(atPath: reserve), "\(running)")

        // Killed, the reserve gone and the disk full to the last byte: it starts, serves what it has,
        // says it is read-only (disk full) and refuses changes with `read only`.
        daemon.signal(SIGKILL)
        _ = try daemon.wait()
        unlink(reserve)
        let squeeze = mount.path + "/squeeze"
        try? Data(count: mount.freeBytes).write(to: URL(fileURLWithPath: squeeze))
        daemon = try DaemonProcess(sandbox: sandbox, arguments: Self.arguments(sandbox, state: state))
        #expect(try Self.listed(sandbox.socket) == acknowledged)
        for task in acknowledged.keys.sorted().prefix(3) {
            #expect(try Call(sandbox.socket, "route", #"{"task":"\#(task)"}"#).result != nil)
        }
        let full = try Self.storage(sandbox.socket)
        print("full disk: restarted with 0 bytes free: \(String(describing: full["readOnlyReason"] ?? "writable").prefix(200))")
        #expect(full["readOnly"] as? Bool == true, "\(full)")
        #expect((full["readOnlyReason"] as? String ?? "").contains("disk full"), "\(full)")
        let refused = try Call(sandbox.socket, "budget.set", #"{"bytes":1073741824}"#)
        #expect(refused.errorCode == RPCErrorCode.readOnly.rawValue, "\(refused.response)")
        #expect(try Self.listed(sandbox.socket) == acknowledged)

        // Room again: changes are taken again (the reserve is re-created first), the catalog is whole.
        unlink(squeeze)
        for piece in fillers { unlink(piece) }
        let after = try base.variant(10_000, under: sandbox.root + "/variants")
        let response = after.install(sandbox.socket, task: "after")
        #expect(response["result"] != nil, "\(response)")
        acknowledged["after"] = after.sha256
        #expect(try Self.listed(sandbox.socket) == acknowledged)
        #expect(try Self.storage(sandbox.socket)["readOnly"] as? Bool == false)
        #expect(FileManager.default.fileExists(atPath: state + "/reserve"))
        try daemon.stop()
    }

    @Test func aReadOnlyStateDirectoryStartsReadOnlyAndServes() throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        var daemon = try DaemonProcess(sandbox: sandbox, arguments: Self.arguments(sandbox, state: sandbox.state))
        let adapters = try InstallableAdapter.accepted(2, socket: sandbox.socket)
        #expect(adapters[0].install(sandbox.socket, task: "kept")["result"] != nil)
        try daemon.stop()

        let mount = try TestMount.readOnlyBind(sandbox.state)
        defer { mount.unmount() }
        daemon = try DaemonProcess(sandbox: sandbox, arguments: Self.arguments(sandbox, state: sandbox.state))
        #expect(try Self.listed(sandbox.socket) == ["kept": adapters[0].sha256])
        let route = try #require(try Call(sandbox.socket, "route", #"{"task":"kept"}"#).result?["adapter"] as? [String: Any])
        #expect(try StateDirectory.sha256(ofFile: try #require(route["weightsPath"] as? String)) == adapters[0].sha256)
        let storage = try Self.storage(sandbox.socket)
        #expect(storage["readOnly"] as? Bool == true)
        #expect((storage["readOnlyReason"] as? String ?? "").contains("read-only file system"), "\(storage)")
        let install = adapters[1].install(sandbox.socket, task: "refused")
        #expect((install["error"] as? [String: Any])?["code"] as? Int == RPCErrorCode.readOnly.rawValue, "\(install)")
        try daemon.stop()

        mount.unmount()
        daemon = try DaemonProcess(sandbox: sandbox, arguments: Self.arguments(sandbox, state: sandbox.state))
        #expect(try Self.storage(sandbox.socket)["readOnly"] as? Bool == false)
        #expect(adapters[1].install(sandbox.socket, task: "later")["result"] != nil)
        try daemon.stop()
    }
}
