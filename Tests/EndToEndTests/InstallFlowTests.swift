import AdapterProtocol
import Crypto
import Foundation
import Testing

/// The install path end to end with the real detector and real corpus adapters: accepted installs
/// are served, re-installs make new versions, a poisoned adapter is refused and quarantined with
/// nothing stored, budgets are enforced — through adapterctl and the python client.
@Suite("install flow", .serialized)
struct InstallFlowTests {
    static func sha256(ofFile path: String) throws -> String {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    @Test func installRouteReinstallRefuseRemove() throws {
        let corpus = try Corpus.adapters()
        let benign = corpus.filter { !$0.poisoned }
        let poisoned = corpus.filter(\.poisoned)
        try #require(benign.count >= 4 && !poisoned.isEmpty, "the corpus needs benign and poisoned adapters")
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let daemon = try DaemonProcess(sandbox: sandbox, arguments: DaemonProcess.arguments(sandbox))

        // Install benign adapters until three are accepted (the detector may flag a rare benign one).
        var accepted: [CorpusAdapter] = []
        for candidate in benign.prefix(10) where accepted.count < 3 {
            let result = try adapterctl(sandbox.socket, ["install", candidate.directory, "--task", "task\(accepted.count)",
                                                         "--examples", candidate.examples, "--json"])
            if result.status == 0 {
                let json = try #require(result.json)
                #expect(json["version"] as? Int == 1)
                #expect((json["verdict"] as? [String: Any])?["decision"] as? String == "benign")
                #expect(json["sha256"] as? String == (try Self.sha256(ofFile: candidate.directory + "/adapter_model.safetensors")))
                #expect(json["examples"] as? Int == 10)
                accepted.append(candidate)
            } else {
                #expect(result.status == 1, "unexpected failure: \(result.stdout) \(result.stderr)")
            }
        }
        try #require(accepted.count == 3, "fewer than 3 of 10 benign corpus adapters were accepted")

        // Route: the served files are the installed bytes.
        let route = try adapterctl(sandbox.socket, ["route", "--task", "task0", "--json"])
        #expect(route.status == 0)
        let adapter = try #require(route.json?["adapter"] as? [String: Any])
        #expect(adapter["kind"] as? String == "own")
        let weightsPath = try #require(adapter["weightsPath"] as? String)
        #expect(try Self.sha256(ofFile: weightsPath) == (try Self.sha256(ofFile: accepted[0].directory + "/adapter_model.safetensors")))

        // The python client installs too, with progress notifications.
        let extra = try #require(benign.first { candidate in !accepted.contains { $0.id == candidate.id } })
        let py = try python(sandbox.socket, ["install", "task0", extra.directory, extra.examples])
        if py.status == 0 {
            let response = try #require(py.json?["response"] as? [String: Any])
            let result = try #require(response["result"] as? [String: Any])
            #expect(result["version"] as? Int == 2)
            #expect(result["replacedVersion"] as? Int == 1)
            let stages = py.json?["progress"] as? [String] ?? []
            #expect(stages.contains("screening") && stages.last == "done", "\(stages)")
            let rerouted = try adapterctl(sandbox.socket, ["route", "--task", "task0", "--json"])
            #expect(rerouted.json?["version"] as? Int == 2)
            #expect((rerouted.json?["adapter"] as? [String: Any])?["id"] as? String
                    == (try Self.sha256(ofFile: extra.directory + "/adapter_model.safetensors")))
        }

        // A poisoned adapter is refused with its reason; nothing of it is stored or served.
        var refusedHash: String?
        var versionBefore: Int?
        // The built-in detector catches few of the corpus's poisoned adapters (docs/DETECTOR.md): try them all.
        for candidate in poisoned {
            versionBefore = try adapterctl(sandbox.socket, ["route", "--task", "task1", "--json"]).json?["version"] as? Int
            let result = try adapterctl(sandbox.socket, ["install", candidate.directory, "--task", "task1", "--examples", candidate.examples])
            if result.status == 1 {
                #expect(result.stderr.contains("refused"), "\(result.stderr)")
                #expect(result.stderr.contains("score"))
                #expect(result.stderr.contains("top features") || result.stderr.contains("out of the detector"))
                refusedHash = try Self.sha256(ofFile: candidate.directory + "/adapter_model.safetensors")
                break
            }
        }
        let hash = try #require(refusedHash, "no poisoned corpus adapter was refused")
        let quarantine = try adapterctl(sandbox.socket, ["quarantine", "--json"])
        let entries = try #require(quarantine.json?["entries"] as? [[String: Any]])
        #expect(entries.first?["sha256"] as? String == hash)
        #expect(entries.first?["peerUid"] as? Int == Int(getuid()))
        #expect(versionBefore != nil)
        #expect(try adapterctl(sandbox.socket, ["route", "--task", "task1", "--json"]).json?["version"] as? Int == versionBefore)
        let objects = try FileManager.default.subpathsOfDirectory(atPath: sandbox.state + "/objects")
        #expect(!objects.contains { $0.hasSuffix(hash) }, "a refused adapter's bytes were stored")
        let readableQuarantine = try adapterctl(sandbox.socket, ["quarantine"])
        #expect(readableQuarantine.stdout.contains(String(hash.prefix(16))))

        // list, show, status agree.
        let list = try adapterctl(sandbox.socket, ["list", "--json"])
        let tasks = try #require(list.json?["tasks"] as? [[String: Any]])
        #expect(tasks.map { $0["task"] as? String } == ["task0", "task1", "task2"])
        let show = try adapterctl(sandbox.socket, ["show", "task2", "--json"])
        #expect((show.json?["summary"] as? [String: Any])?["sha256"] as? String
                == (try Self.sha256(ofFile: accepted[2].directory + "/adapter_model.safetensors")))
        #expect((show.json?["examplePreview"] as? [String])?.isEmpty == false)
        let status = try adapterctl(sandbox.socket, ["status", "--json"]).json
        #expect(status?["tasks"] as? Int == 3)
        #expect(status?["quarantined"] as? Int == 1)
        let served = (status?["budget"] as? [String: Any])?["servedBytes"] as? Int ?? 0
        #expect(served > 0)
        #expect(try adapterctl(sandbox.socket, ["list"]).stdout.contains("task2"))

        // remove: no longer routed.
        #expect(try adapterctl(sandbox.socket, ["remove", "task2"]).status == 0)
        #expect(try adapterctl(sandbox.socket, ["route", "--task", "task2"]).status == 1)
        #expect(try adapterctl(sandbox.socket, ["remove", "task2"]).status == 1)
        try daemon.stop()

        // Restart with a budget too small for even one merged adapter: an install is refused as over
        // budget with nothing stored (a budget that holds merged adapters clusters instead: ServedSetTests).
        let restarted = try DaemonProcess(sandbox: sandbox, arguments: DaemonProcess.arguments(sandbox, budget: "1000"))
        let over = try adapterctl(sandbox.socket, ["install", accepted[2].directory, "--task", "task9", "--examples", accepted[2].examples])
        #expect(over.status == 1)
        #expect(over.stderr.contains("budget"), "\(over.stderr)")
        #expect(try adapterctl(sandbox.socket, ["show", "task9"]).status == 1)
        let invalid = try adapterctl(sandbox.socket, ["install", accepted[0].directory, "--task", "../escape", "--examples", accepted[0].examples])
        #expect(invalid.status == 2, "\(invalid.stderr)")
        try restarted.stop()
    }
}
