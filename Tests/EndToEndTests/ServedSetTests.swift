import AdapterProtocol
import Crypto
import Foundation
import Testing

/// Budgeted clustering end to end with the real binaries and corpus adapters: more tasks than the
/// budget holds are served by merged adapters under it, every task stays routable, export writes a
/// PEFT directory, and `recluster --dry-run` changes nothing.
@Suite("served set", .serialized)
struct ServedSetTests {
    /// The corpus's llama-tiny adapters of one base-model profile (q/k/v/o), small enough for fast tests.
    static func llamaTasks() throws -> [CorpusAdapter] {
        var seen = Set<String>()
        let adapters = try Corpus.adapters().filter { adapter in
            guard !adapter.poisoned, adapter.baseModel == "llama-tiny",
                  let config = FileManager.default.contents(atPath: adapter.directory + "/adapter_config.json"),
                  let json = try? JSONSerialization.jsonObject(with: config) as? [String: Any],
                  let targets = json["target_modules"] as? [String] else { return false }
            return Set(targets) == ["q_proj", "k_proj", "v_proj", "o_proj"]
        }
        return adapters.filter { seen.insert($0.task).inserted }
    }

    static func sha256(ofFile path: String) throws -> String {
        SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: path))).map { String(format: "%02x", $0) }.joined()
    }

    /// Arguments without --budget, so `budget` and `recluster --budget` may change it.
    static func arguments(_ sandbox: Sandbox) -> [String] {
        ["--socket", sandbox.socket, "--state-dir", sandbox.state] + DaemonProcess.detectorArguments
    }

    @Test func moreTasksThanTheBudgetHoldsAreClusteredRoutedAndExported() throws {
        let tasks = try Self.llamaTasks()
        try #require(tasks.count >= 4, "the corpus needs at least 4 llama-tiny q/k/v/o adapters")
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let daemon = try DaemonProcess(sandbox: sandbox, arguments: Self.arguments(sandbox))
        #expect(try adapterctl(sandbox.socket, ["budget", "30KB"]).status == 0)
        var installed: [String] = []
        for adapter in tasks {
            let result = try adapterctl(sandbox.socket, ["install", adapter.directory, "--task", adapter.task,
                                                         "--examples", adapter.examples, "--json"])
            #expect(result.status == 0, "\(adapter.id): \(result.stdout) \(result.stderr)")
            if result.status == 0 { installed.append(adapter.task) }
        }
        try #require(installed.count >= 4)

        let status = try #require(try adapterctl(sandbox.socket, ["status", "--json"]).json)
        let budget = try #require(status["budget"] as? [String: Any])
        let servedBytes = try #require(budget["servedBytes"] as? Int)
        #expect(servedBytes <= 30_000)
        let served = try #require(status["served"] as? [String: Any])
        #expect(served["kind"] as? String == "clustered")
        #expect(served["evaluator"] as? String == "weight-space")
        let clusters = try #require(served["clusters"] as? [[String: Any]])
        #expect(clusters.count < installed.count)
        #expect(clusters.reduce(0) { $0 + ($1["bytes"] as? Int ?? 0) } == servedBytes)
        let human = try adapterctl(sandbox.socket, ["status"])
        #expect(human.stdout.contains("RETAINED") && human.stdout.contains("by weight-space"), "\(human.stdout)")

        // Every task routes to a complete served adapter of the current generation.
        for task in installed {
            let route = try adapterctl(sandbox.socket, ["route", "--task", task, "--json"])
            #expect(route.status == 0, "\(task): \(route.stderr)")
            let json = try #require(route.json)
            #expect(json["generation"] as? Int == status["generation"] as? Int)
            let quality = try #require(json["retainedQuality"] as? Double)
            #expect(quality >= 0 && quality <= 1)
            let adapter = try #require(json["adapter"] as? [String: Any])
            #expect((adapter["tasks"] as? [String])?.contains(task) == true)
            let directory = try #require(adapter["directory"] as? String)
            #expect(try Self.sha256(ofFile: directory + "/adapter_model.safetensors") == adapter["sha256"] as? String)
            #expect(adapter["scale"] as? Double != nil && adapter["cluster"] as? Int != nil)
        }
        #expect(try adapterctl(sandbox.socket, ["route", "--task", installed[0]]).stdout.contains("retained"))

        // Export the merged cluster: a PEFT directory with the served bytes; a non-empty DIR is refused.
        let merged = try #require(clusters.first { $0["kind"] as? String == "merged" })
        let cluster = try #require(merged["id"] as? Int)
        let target = sandbox.root + "/export"
        let export = try adapterctl(sandbox.socket, ["export", "\(cluster)", target])
        #expect(export.status == 0, "\(export.stderr)")
        #expect(try Self.sha256(ofFile: target + "/adapter_model.safetensors") == merged["sha256"] as? String)
        let config = try #require(FileManager.default.contents(atPath: target + "/adapter_config.json"))
        let configJSON = try #require(try JSONSerialization.jsonObject(with: config) as? [String: Any])
        #expect(configJSON["peft_type"] as? String == "LORA")
        #expect(configJSON["r"] as? Int == merged["rank"] as? Int)
        let again = try adapterctl(sandbox.socket, ["export", "\(cluster)", target])
        #expect(again.status == 2 && again.stderr.contains("not empty"), "\(again.stderr)")
        #expect(try adapterctl(sandbox.socket, ["export", "999999", sandbox.root + "/none"]).status == 1)

        // A dry run with room for everything plans own adapters and changes nothing.
        let generation = status["generation"] as? Int
        let dry = try adapterctl(sandbox.socket, ["recluster", "--dry-run", "--budget", "10MB", "--json"])
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.json?["dryRun"] as? Bool == true)
        #expect(dry.json?["kind"] as? String == "own")
        #expect(try adapterctl(sandbox.socket, ["status", "--json"]).json?["generation"] as? Int == generation)
        let table = try adapterctl(sandbox.socket, ["recluster", "--dry-run", "--budget", "70KB"])
        #expect(table.stdout.contains("plan (dry run, nothing changed)") && table.stdout.contains("RETAINED"), "\(table.stdout)")

        // Applied: the budget is stored, and a restart keeps serving the same generation.
        let applied = try adapterctl(sandbox.socket, ["recluster", "--budget", "10MB", "--json"])
        #expect(applied.json?["kind"] as? String == "own")
        let appliedGeneration = try #require(applied.json?["generation"] as? Int)
        try daemon.stop()
        let restarted = try DaemonProcess(sandbox: sandbox, arguments: Self.arguments(sandbox))
        let after = try #require(try adapterctl(sandbox.socket, ["status", "--json"]).json)
        #expect(after["generation"] as? Int == appliedGeneration)
        #expect((after["budget"] as? [String: Any])?["limitBytes"] as? Int == 10_000_000)
        try restarted.stop()
    }
}
