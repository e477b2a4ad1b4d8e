import AdapterProtocol
import AdapterdTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The real daemon with clients of other uids (setpriv): read methods allowed, every mutating method
/// refused with `unauthorized` and nothing changed, admin-group members (primary group or listed in
/// the group database) allowed, and one uid's connections capped by max-connections-per-user.
@Suite("second uid", .serialized)
struct SecondUIDTests {
    /// Runs the real adapterctl or python3 as `uid` with only the given groups.
    static func asUser(_ uid: UInt32, gid: UInt32, _ command: [String]) throws -> CommandResult {
        try run("/usr/bin/setpriv", ["--reuid=\(uid)", "--regid=\(gid)", "--clear-groups"] + command)
    }

    static func pythonCall(_ socket: String, uid: UInt32, gid: UInt32, _ method: String, _ params: String? = nil) throws -> CommandResult {
        try asUser(uid, gid: gid, ["/usr/bin/python3", Paths.pythonClient, socket, "call", method] + (params.map { [$0] } ?? []))
    }

    static let readMethods: [(String, String?)] = [
        ("status", nil), ("list", nil), ("show", #"{"task":"kept"}"#), ("route", #"{"task":"kept"}"#),
        ("quarantine.list", nil), ("config.get", nil),
    ]
    /// Every mutating method with params that would succeed for an administrator.
    static let mutatingMethods: [(String, String)] = [
        ("remove", #"{"task":"kept"}"#), ("budget.set", #"{"bytes":1048576}"#),
        ("install", #"{"task":"intruder","config":"{}","safetensors":"","examples":""}"#),
        ("recluster", #"{"budget":null,"dryRun":false}"#),
    ]

    /// A daemon with one installed task, its socket opened to everyone (mode 0666) so that the uid
    /// check, not the file mode, is what is tested.
    static func daemonWithOneTask(_ sandbox: Sandbox, config: String) throws -> DaemonProcess {
        try (config + "\nbudget = unlimited\n").write(toFile: sandbox.root + "/a.conf", atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(sandbox: sandbox, arguments: ["--socket", sandbox.socket, "--state-dir", sandbox.state,
                                                                     "--config", sandbox.root + "/a.conf"] + DaemonProcess.detectorArguments)
        var installed = false
        for adapter in try Corpus.adapters().filter({ !$0.poisoned }).prefix(10) where !installed {
            installed = try python(sandbox.socket, ["install", "kept", adapter.directory, adapter.examples]).status == 0
        }
        try #require(installed, "the detector accepted none of the first benign corpus adapters")
        // The daemon sets mode 0660 just before it logs "listening on"; open the socket up after that.
        try daemon.waitForLog("listening on")
        chmod(sandbox.socket, 0o666)
        return daemon
    }

    @Test func anUnprivilegedUIDMayReadButEveryMutatingMethodIsRefused() throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let daemon = try Self.daemonWithOneTask(sandbox, config: "admin-group = none")
        let before = try python(sandbox.socket, ["call", "list"]).stdout
        let hasRecluster = try python(sandbox.socket, ["call", "recluster", #"{"budget":null,"dryRun":true}"#])
            .json?.errorCode != RPCErrorCode.methodNotFound.rawValue

        for (method, params) in Self.readMethods {
            let result = try Self.pythonCall(sandbox.socket, uid: 4242, gid: 4242, method, params)
            #expect(result.status == 0, "\(method) as uid 4242: \(result.stdout) \(result.stderr)")
        }
        let status = try Self.pythonCall(sandbox.socket, uid: 4242, gid: 4242, "status")
        let peer = (status.json?["result"] as? [String: Any])?["peer"] as? [String: Any]
        #expect(peer?["uid"] as? Int == 4242)
        #expect(peer?["mayMutate"] as? Bool == false)

        for (method, params) in Self.mutatingMethods {
            let result = try Self.pythonCall(sandbox.socket, uid: 4242, gid: 4242, method, params)
            if method == "recluster" && !hasRecluster {
                print("second uid: skipped: daemon has no recluster")
                #expect(result.json?.errorCode == RPCErrorCode.methodNotFound.rawValue)
                continue
            }
            #expect(result.json?.errorCode == RPCErrorCode.unauthorized.rawValue, "\(method) as uid 4242: \(result.stdout) \(result.stderr)")
            let message = ((result.json?["error"] as? [String: Any])?["message"] as? String) ?? ""
            #expect(message.contains("uid 4242"), "\(message)")
        }
        // The real adapterctl as nobody: reads work, changes exit with status 4 (unauthorized).
        #expect(try Self.asUser(65534, gid: 65534, [Paths.adapterctl, "list", "--socket", sandbox.socket]).status == 0)
        #expect(try Self.asUser(65534, gid: 65534, [Paths.adapterctl, "route", "--task", "kept", "--socket", sandbox.socket]).status == 0)
        #expect(try Self.asUser(65534, gid: 65534, [Paths.adapterctl, "budget", "1MiB", "--socket", sandbox.socket]).status == 4)
        #expect(try Self.asUser(65534, gid: 65534, [Paths.adapterctl, "remove", "kept", "--socket", sandbox.socket]).status == 4)
        let adapter = try #require(try Corpus.adapters().first { !$0.poisoned })
        let install = try Self.asUser(65534, gid: 65534, [Paths.adapterctl, "install", adapter.directory, "--task", "intruder",
                                                           "--examples", adapter.examples, "--socket", sandbox.socket])
        #expect(install.status == 4, "\(install.stderr)")
        // Nothing changed.
        #expect(try python(sandbox.socket, ["call", "list"]).stdout == before)
        #expect(try daemon.stop() == 0)
    }

    @Test func adminGroupMembersMayMutate() throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        // A temporary group listing nobody as a member (the group database, not the process's groups).
        let group = "adapterdt\(getpid() % 100_000)"
        let created = try run("/usr/sbin/groupadd", [group])
        try #require(created.status == 0, "groupadd needs root: \(created.stderr)")
        defer { _ = try? run("/usr/sbin/groupdel", [group]) }
        try #require(try run("/usr/bin/gpasswd", ["-a", "nobody", group]).status == 0)
        let gid = try #require(getgrnam(group)?.pointee.gr_gid)

        let daemon = try Self.daemonWithOneTask(sandbox, config: "admin-group = \(group)")
        // nobody is listed in the group: allowed though its process holds no supplementary group.
        let member = try Self.pythonCall(sandbox.socket, uid: 65534, gid: 65534, "budget.set", #"{"bytes":null}"#)
        #expect(member.status == 0, "\(member.stdout) \(member.stderr)")
        let memberStatus = try Self.pythonCall(sandbox.socket, uid: 65534, gid: 65534, "status")
        #expect(((memberStatus.json?["result"] as? [String: Any])?["peer"] as? [String: Any])?["mayMutate"] as? Bool == true)
        // A uid whose primary group (at connect time) is the admin group: allowed.
        let primary = try Self.pythonCall(sandbox.socket, uid: 4242, gid: gid, "remove", #"{"task":"kept"}"#)
        #expect(primary.status == 0, "\(primary.stdout) \(primary.stderr)")
        // Anyone else: refused.
        let outsider = try Self.pythonCall(sandbox.socket, uid: 4243, gid: 4243, "budget.set", #"{"bytes":null}"#)
        #expect(outsider.json?.errorCode == RPCErrorCode.unauthorized.rawValue, "\(outsider.stdout)")
        #expect(try daemon.stop() == 0)
    }

    @Test func oneUnprivilegedUIDCannotTakeEveryConnection() throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        try "max-connections = 12\nmax-connections-per-user = 4\nadmin-group = none\n"
            .write(toFile: sandbox.root + "/a.conf", atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(sandbox: sandbox, arguments: ["--socket", sandbox.socket, "--state-dir", sandbox.state,
                                                                     "--config", sandbox.root + "/a.conf"] + DaemonProcess.detectorArguments)
        // The daemon sets mode 0660 just before it logs "listening on"; open the socket up after that.
        try daemon.waitForLog("listening on")
        chmod(sandbox.socket, 0o666)
        // uid 4242 opens 10 connections and holds them; the first 4 are served, the rest answered busy.
        let script = """
            import json, os, socket, struct, sys, time
            held, busy, served = [], 0, 0
            for i in range(10):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(10); s.connect(sys.argv[1])
                p = json.dumps({"jsonrpc": "2.0", "id": i, "method": "status"}).encode()
                try:
                    s.sendall(struct.pack(">I", len(p)) + p)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # a refused connection is answered and closed at once; its error is still readable
                n = struct.unpack(">I", s.recv(4, socket.MSG_WAITALL))[0]
                m = json.loads(s.recv(n, socket.MSG_WAITALL))
                if "result" in m: served += 1
                elif m["error"]["code"] == -32006 and "max-connections-per-user" in m["error"]["message"]: busy += 1
                held.append(s)
            print(json.dumps({"served": served, "busy": busy}), flush=True)
            deadline = time.time() + 20
            while not os.path.exists(sys.argv[2]) and time.time() < deadline: time.sleep(0.05)
            """
        try script.write(toFile: sandbox.root + "/hog.py", atomically: true, encoding: .utf8)
        chmod(sandbox.root + "/hog.py", 0o644)
        let release = sandbox.root + "/release"
        let output = sandbox.root + "/hog.out"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        chmod(output, 0o666)
        let hog = try ChildProcess("/usr/bin/setpriv", ["--reuid=4242", "--regid=4242", "--clear-groups", "/usr/bin/python3",
                                                         sandbox.root + "/hog.py", sandbox.socket, release],
                                   outputPath: output, errorPath: sandbox.root + "/hog.err")
        let deadline = Date().addingTimeInterval(30)
        var line = ""
        while !line.hasSuffix("\n") && Date() < deadline && hog.isRunning {
            usleep(50_000)
            line = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        }
        let counts = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        #expect(counts?["served"] as? Int == 4, "\(line)")
        #expect(counts?["busy"] as? Int == 6, "\(line)")
        // While uid 4242 holds its share, another unprivileged uid and root are still served.
        #expect(try Self.pythonCall(sandbox.socket, uid: 4243, gid: 4243, "status").status == 0)
        #expect(try python(sandbox.socket, ["call", "status"]).status == 0)
        _ = FileManager.default.createFile(atPath: release, contents: nil)
        try hog.wait(timeout: 30, what: "hog.py")
        #expect(try daemon.stop() == 0)
    }
}
