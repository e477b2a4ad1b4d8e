import AdapterProtocol
import AdapterdTestSupport
import Crypto
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The real daemon against hostile input: task names that try path traversal, symbolic links planted
/// in the state directory while it is stopped, and malicious frames from an unprivileged peer.
@Suite("hostile input", .serialized)
struct HostileInputTests {
    static func sha256(_ path: String) throws -> String {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    /// Every entry under `root`, recursively (paths relative to it), not following links.
    static func tree(_ root: String) -> Set<String> {
        var result: Set<String> = []
        guard let enumerator = FileManager.default.enumerator(atPath: root) else { return result }
        while let path = enumerator.nextObject() as? String { result.insert(path) }
        return result
    }

    @Test func namesThatTryPathTraversalAreRefusedEverywhere() throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let daemon = try DaemonProcess(sandbox: sandbox, arguments: DaemonProcess.arguments(sandbox))
        let adapter = try #require(try Corpus.adapters().first { !$0.poisoned })
        let outsideBefore = Self.tree(sandbox.root).filter { !$0.hasPrefix("state") && !$0.hasSuffix(".log") }
            .union(["install.json"])
        let names = ["../escape", "../../../../tmp/adapterd-escape", "a/b", "..", ".", "/etc/passwd", ".hidden",
                     "-rf", "x\u{0}y", "a\\b", "tab\tname", "ü", String(repeating: "n", count: 65), ""]
        let weights = try Data(contentsOf: URL(fileURLWithPath: adapter.directory + "/adapter_model.safetensors"))
        let config = try String(contentsOfFile: adapter.directory + "/adapter_config.json", encoding: .utf8)
        let examples = try String(contentsOfFile: adapter.examples, encoding: .utf8)
        for name in names {
            // A real, acceptable adapter: only the name is wrong.
            let install = InstallParams(task: name, config: config, safetensors: weights.base64EncodedString(), examples: examples)
            try JSONEncoder().encode(install).write(to: URL(fileURLWithPath: sandbox.root + "/install.json"))
            let result = try python(sandbox.socket, ["call", "install", "@" + sandbox.root + "/install.json"])
            #expect(result.json?.errorCode == RPCErrorCode.invalidParams.rawValue, "install \(name.debugDescription): \(result.stdout)")
            let params = String(decoding: try JSONEncoder().encode(["task": name]), as: UTF8.self)
            for method in ["show", "route", "remove"] {
                let result = try python(sandbox.socket, ["call", method, params])
                let error = result.json?.errorCode
                #expect(error == RPCErrorCode.invalidParams.rawValue || error == RPCErrorCode.notFound.rawValue,
                        "\(method) \(name.debugDescription): \(result.stdout)")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: "/tmp/adapterd-escape"))
        let list = try python(sandbox.socket, ["call", "list"])
        #expect(((list.json?["result"] as? [String: Any])?["tasks"] as? [Any])?.isEmpty == true)
        let outsideAfter = Self.tree(sandbox.root).filter { !$0.hasPrefix("state") && !$0.hasSuffix(".log") }
        #expect(outsideAfter == outsideBefore)
        #expect(try daemon.stop() == 0)
    }

    @Test func symbolicLinksPlantedInTheStateDirectoryAreNeutralised() throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        var daemon: DaemonProcess? = try DaemonProcess(sandbox: sandbox, arguments: DaemonProcess.arguments(sandbox))
        var installed: CorpusAdapter?
        for adapter in try Corpus.adapters().filter({ !$0.poisoned }).prefix(10) where installed == nil {
            if try python(sandbox.socket, ["install", "kept", adapter.directory, adapter.examples]).status == 0 { installed = adapter }
        }
        let adapter = try #require(installed)
        let weightsDigest = try Self.sha256(adapter.directory + "/adapter_model.safetensors")
        try daemon?.stop()
        daemon = nil

        // Something the daemon must never delete, truncate or serve.
        let outside = sandbox.root + "/outside"
        try FileManager.default.createDirectory(atPath: outside + "/inner", withIntermediateDirectories: true)
        try "canary".write(toFile: outside + "/canary", atomically: true, encoding: .utf8)
        try "inner".write(toFile: outside + "/inner/file", atomically: true, encoding: .utf8)
        let state = sandbox.state
        let fake = String(repeating: "ab", count: 32)
        let generations = try FileManager.default.contentsOfDirectory(atPath: state + "/generations")
        let current = try #require(generations.first)
        let servedDirectory = try #require(try FileManager.default.contentsOfDirectory(atPath: state + "/generations/" + current).first)
        let links: [(String, String)] = [
            ("tmp/dir-link", outside),
            ("tmp/file-link", outside + "/canary"),
            ("objects/zz", outside),
            ("objects/ab/" + fake, outside + "/canary"),
            ("generations/999", outside),
            ("generations/\(current)/\(servedDirectory)/extra", outside + "/canary"),
        ]
        try FileManager.default.createDirectory(atPath: state + "/objects/ab", withIntermediateDirectories: true)
        for (link, target) in links {
            try FileManager.default.createSymbolicLink(atPath: state + "/" + link, withDestinationPath: target)
        }

        // A link in place of the lock or the catalog: the daemon refuses to start and touches nothing.
        try FileManager.default.moveItem(atPath: state + "/lock", toPath: sandbox.root + "/lock.saved")
        try FileManager.default.createSymbolicLink(atPath: state + "/lock", withDestinationPath: outside + "/canary")
        let refused = try run(Paths.adapterd, DaemonProcess.arguments(sandbox))
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("symbolic link"), "\(refused.stderr)")
        try FileManager.default.removeItem(atPath: state + "/lock")
        try FileManager.default.moveItem(atPath: sandbox.root + "/lock.saved", toPath: state + "/lock")

        daemon = try DaemonProcess(sandbox: sandbox, arguments: DaemonProcess.arguments(sandbox))
        // Nothing outside was followed: the canary and the directory are intact.
        #expect(try String(contentsOfFile: outside + "/canary", encoding: .utf8) == "canary")
        #expect(try String(contentsOfFile: outside + "/inner/file", encoding: .utf8) == "inner")
        // The links left by the open are not in places the daemon reads from or serves.
        for (link, _) in links.prefix(5) {
            #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: state + "/" + link)) == nil,
                    "\(link) survived the restart")
        }
        // The task is still served from intact files inside the state directory.
        let route = try python(sandbox.socket, ["call", "route", #"{"task":"kept"}"#])
        let served = try #require((route.json?["result"] as? [String: Any])?["adapter"] as? [String: Any])
        let weightsPath = try #require(served["weightsPath"] as? String)
        #expect(weightsPath.hasPrefix(state + "/generations/"))
        #expect(try FileManager.default.destinationOfSymbolicLinkOrNil(weightsPath) == nil)
        #expect(try Self.sha256(weightsPath) == weightsDigest)
        #expect(try daemon?.stop() == 0)
    }

    @Test func maliciousFramesFromAnUnprivilegedPeerAreRefusedWithoutHarm() throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        try "admin-group = none\nmax-read-only-request = 1MiB\n".write(toFile: sandbox.root + "/a.conf", atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(sandbox: sandbox, arguments: DaemonProcess.arguments(sandbox, extra: ["--config", sandbox.root + "/a.conf"]))
        // The daemon sets mode 0660 just before it logs "listening on"; open the socket up after that.
        try daemon.waitForLog("listening on")
        chmod(sandbox.socket, 0o666)
        let script = #"""
            import json, socket, struct, sys
            def exchange(header, body=b""):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(10); s.connect(sys.argv[1])
                try:
                    s.sendall(header + body)
                except OSError:
                    pass
                try:
                    head = s.recv(4, socket.MSG_WAITALL)
                    if len(head) < 4: return "closed"
                    reply = json.loads(s.recv(struct.unpack(">I", head)[0], socket.MSG_WAITALL))
                    return reply.get("error", {}).get("code", "result")
                except OSError as e:
                    return "error " + str(e)
            def frame(body): return exchange(struct.pack(">I", len(body)), body)
            results = {
                "4 GiB announced": exchange(b"\xff\xff\xff\xff", b"{" * 1000),
                "2 MiB frame": frame(b'{"jsonrpc":"2.0","id":1,"method":"status","params":{"x":"' + b"a" * (2 << 20) + b'"}}'),
                "nested arrays": frame(b"[" * 400000 + b"]" * 400000),
                "nested params": frame(b'{"jsonrpc":"2.0","id":1,"method":"status","params":' + b"[" * 200000 + b"]" * 200000 + b"}"),
                "invalid UTF-8": frame(b'{"jsonrpc":"2.0","id":1,"method":"st\xff\xfeatus"}'),
                "id 1e400": frame(b'{"jsonrpc":"2.0","id":1e400,"method":"status"}'),
                "id object": frame(b'{"jsonrpc":"2.0","id":{"a":1},"method":"status"}'),
                "batch": frame(b'[{"jsonrpc":"2.0","id":1,"method":"status"}]'),
                "zero length": frame(b""),
                "huge task name": frame(json.dumps({"jsonrpc":"2.0","id":1,"method":"route","params":{"task":"../" * 100000}}).encode()),
                "install by a reader": frame(json.dumps({"jsonrpc":"2.0","id":1,"method":"install","params":{"task":"x","config":"{}","safetensors":"","examples":""}}).encode()),
            }
            print(json.dumps(results))
            """#
        try script.write(toFile: sandbox.root + "/hostile.py", atomically: true, encoding: .utf8)
        chmod(sandbox.root + "/hostile.py", 0o644)
        let result = try run("/usr/bin/setpriv", ["--reuid=4242", "--regid=4242", "--clear-groups", "/usr/bin/python3",
                                                  sandbox.root + "/hostile.py", sandbox.socket])
        let codes = try #require(result.json, "\(result.stdout) \(result.stderr)")
        let expected: [String: Int] = [
            "4 GiB announced": RPCErrorCode.tooLarge.rawValue, "2 MiB frame": RPCErrorCode.tooLarge.rawValue,
            "nested arrays": RPCErrorCode.parseError.rawValue, "nested params": RPCErrorCode.parseError.rawValue,
            "invalid UTF-8": RPCErrorCode.parseError.rawValue, "id 1e400": RPCErrorCode.invalidRequest.rawValue,
            "id object": RPCErrorCode.invalidRequest.rawValue, "batch": RPCErrorCode.invalidRequest.rawValue,
            "zero length": RPCErrorCode.parseError.rawValue, "huge task name": RPCErrorCode.invalidParams.rawValue,
            "install by a reader": RPCErrorCode.unauthorized.rawValue,
        ]
        for (name, code) in expected {
            #expect(codes[name] as? Int == code, "\(name): \(String(describing: codes[name]))")
        }
        // The daemon is alive and serves everyone afterwards.
        #expect(try python(sandbox.socket, ["call", "status"]).status == 0)
        #expect(try daemon.stop() == 0)
    }
}

extension FileManager {
    /// The target of a symbolic link, or nil when `path` is not one.
    func destinationOfSymbolicLinkOrNil(_ path: String) throws -> String? {
        try? destinationOfSymbolicLink(atPath: path)
    }
}
