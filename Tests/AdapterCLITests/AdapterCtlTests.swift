@testable import AdapterCLI
import AdapterProtocol
import ArgumentParser
import Foundation
import Testing

@Suite("adapterctl")
struct AdapterCtlTests {
    @Test func daemonErrorsMapToDocumentedExitStatuses() {
        #expect(CLIError.status(for: RPCError(code: .refused, message: "")) == .declined)
        #expect(CLIError.status(for: RPCError(code: .notFound, message: "")) == .declined)
        #expect(CLIError.status(for: RPCError(code: .overBudget, message: "")) == .declined)
        #expect(CLIError.status(for: RPCError(code: .unauthorized, message: "")) == .unauthorized)
        #expect(CLIError.status(for: RPCError(code: .invalidParams, message: "")) == .usage)
        #expect(CLIError.status(for: RPCError(code: .internalError, message: "")) == .daemonError)
        #expect(CLIError.status(for: RPCError(code: .busy, message: "")) == .daemonError)
    }

    @Test func usageErrorsExitWithStatus2() async {
        #expect(await AdapterCtl.run(arguments: ["route"]) == ExitStatus.usage.rawValue)
        #expect(await AdapterCtl.run(arguments: ["no-such-command"]) == ExitStatus.usage.rawValue)
        #expect(await AdapterCtl.run(arguments: ["budget", "12 parsecs", "--socket", "/nonexistent"]) == ExitStatus.usage.rawValue)
    }

    @Test func aMissingSocketExitsWithStatus3() async {
        #expect(await AdapterCtl.run(arguments: ["status", "--socket", "/nonexistent/adapterd.sock"]) == ExitStatus.cannotConnect.rawValue)
    }

    @Test func helpDocumentsEveryExitStatus() {
        let help = AdapterCtl.helpMessage()
        for status in ExitStatus.allCases {
            #expect(help.contains("\(status.rawValue)  \(status.meaning)"))
        }
    }

    @Test func socketComesFromTheFlagThenTheEnvironmentThenTheDefault() throws {
        let flagged = try ClientOptions.parse(["--socket", "/tmp/x.sock"])
        #expect(flagged.socketPath == "/tmp/x.sock")
        let plain = try ClientOptions.parse([])
        let environment = ProcessInfo.processInfo.environment["ADAPTERD_SOCKET"]
        #expect(plain.socketPath == (environment?.isEmpty == false ? environment! : AdapterdClient.defaultSocketPath))
    }

    @Test func installReadsTheDirectoryAndReportsMissingFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("adapterctl-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try #"{"r": 4}"#.write(toFile: directory + "/adapter_config.json", atomically: true, encoding: .utf8)
        try #"{"text":"a","label":"b"}"#.write(toFile: directory + "/ex.jsonl", atomically: true, encoding: .utf8)
        do {
            _ = try InstallCommand.readParams(directory: directory, task: "t", examples: directory + "/ex.jsonl")
            Issue.record("expected a missing safetensors file")
        } catch let error as CLIError {
            #expect(error.code == .usage)
            #expect(error.message.contains("adapter_model.safetensors"))
        }
        try Data([1, 2, 3, 250]).write(to: URL(fileURLWithPath: directory + "/adapter_model.bin"))
        do {
            _ = try InstallCommand.readParams(directory: directory, task: "t", examples: directory + "/ex.jsonl")
            Issue.record("expected a refusal of .bin")
        } catch let error as CLIError {
            #expect(error.message.contains("pickle"))
        }
        try Data([1, 2, 3, 250]).write(to: URL(fileURLWithPath: directory + "/adapter_model.safetensors"))
        let params = try InstallCommand.readParams(directory: directory, task: "t", examples: directory + "/ex.jsonl")
        #expect(Data(base64Encoded: params.safetensors) == Data([1, 2, 3, 250]))
        #expect(params.config == #"{"r": 4}"#)
        #expect(params.examples.contains("label"))
    }

    @Test func refusalsAreExplainedWithTheVerdict() {
        let verdict = VerdictInfo(decision: "poisoned", score: 0.91, threshold: 0.5,
                                  topFeatures: [VerdictFeature(name: "v.kurtosis", value: 3.2, contribution: 1.7)], model: "m")
        let error = RPCError(code: .refused, message: "adapter for 't' refused",
                             details: RefusalDetails(task: "t", sha256: "abc", verdict: verdict, quarantineId: 4))
        let text = Output.describe(error)
        #expect(text.contains("refused"))
        #expect(text.contains("score 0.910 ≥ threshold 0.500"))
        #expect(text.contains("v.kurtosis"))
        #expect(text.contains("+1.700"))
        #expect(text.contains("#4"))
    }
}

@Suite("adapterctl recluster, export, status and route output")
struct ServedSetOutputTests {
    @Test func aSingleTaskAdapterAtALowerRankIsShownAsReEncodedNotMerged() {
        let clusters = [
            PlanCluster(index: 0, id: 3, kind: "merged", tasks: ["a"], rank: 2, bytes: 900, sha256: "cd34", baseModel: "m"),
            PlanCluster(index: 1, id: 4, kind: "merged", tasks: ["b", "c"], rank: 4, bytes: 1800, sha256: "ef56", baseModel: "m"),
            PlanCluster(index: 2, id: 5, kind: "own", tasks: ["d"], rank: 8, bytes: 3600, sha256: "ab12", baseModel: "m"),
        ]
        let rows = ReclusterCommand.clusterTable(clusters).split(separator: "\n").map(String.init)
        #expect(rows.contains { $0.hasPrefix("3 ") && $0.contains("re-encoded") && !$0.contains("merged") })
        #expect(rows.contains { $0.hasPrefix("4 ") && $0.contains("merged") })
        #expect(rows.contains { $0.hasPrefix("5 ") && $0.contains("own") })
        let tasks = ReclusterCommand.taskTable(
            [PlanTask(task: "a", version: 1, cluster: 0, retainedQuality: 0.9)], clusters: clusters)
        #expect(tasks.contains("re-encoded"))
    }

    @Test func reclusterPrintsThePlanAsTables() throws {
        let text = ReclusterCommand.render(ServedSetTypesFixture.plan)
        #expect(text.contains("generation 7 is current: 2 served adapters (clustered)"))
        #expect(text.contains("retained quality: mean 0.800, worst 0.600 (b) by weight-space"))
        #expect(text.contains("note: external:x failed"))
        let lines = text.split(separator: "\n").map(String.init)
        let clusterRow = try #require(lines.first(where: { $0.hasPrefix("21 ") }))
        #expect(clusterRow.contains("merged"))
        #expect(clusterRow.contains("a, b"))
        let taskRow = lines.first { $0.hasPrefix("b ") }
        #expect(taskRow?.contains("0.600") == true)
        #expect(taskRow?.contains("21") == true)
        var dry = ServedSetTypesFixture.plan
        dry.dryRun = true
        dry.generation = nil
        dry.clusters = dry.clusters.map { var c = $0; c.id = nil; return c }
        let dryText = ReclusterCommand.render(dry)
        #expect(dryText.hasPrefix("plan (dry run, nothing changed)"))
        #expect(dryText.contains("#0"))
    }

    @Test func statusShowsTheServedSet() {
        let served = ServedSetInfo(
            generation: 7, kind: "clustered", clusters: ServedSetTypesFixture.plan.clusters,
            tasks: ServedSetTypesFixture.plan.tasks, meanRetainedQuality: 0.8, worstRetainedQuality: 0.6, worstTask: "b",
            evaluator: "external:eval.py", evaluatorNote: nil, lastReclusterAt: "2026-11-26T23:00:00Z", reclustering: false)
        let text = StatusCommand.renderServed(served).joined(separator: "\n")
        #expect(text.contains("served:      2 adapters (clustered), since 2026-11-26T23:00:00Z"))
        #expect(text.contains("quality:     mean 0.800, worst 0.600 (b) by external:eval.py"))
        #expect(text.contains("RETAINED"))
    }

    @Test func routeShowsClusterScaleShaAndQuality() {
        let route = RouteResult(
            task: "a", version: 1, generation: 7,
            adapter: ServedAdapter(id: "ab12", kind: "merged", tasks: ["a", "b"], bytes: 17_600, configPath: "/g/7/21/adapter_config.json",
                                   weightsPath: "/g/7/21/adapter_model.safetensors", cluster: 21, directory: "/g/7/21",
                                   sha256: "ab12", rank: 8, scale: 1),
            retainedQuality: 0.8, evaluator: "weight-space")
        let text = RouteCommand.render(route)
        #expect(text.contains("a (version 1) → cluster 21, merged adapter of 2 tasks, generation 7"))
        #expect(text.contains("retained  0.800 (by weight-space)"))
        #expect(text.contains("scale     1.000, rank 8"))
        #expect(text.contains("directory /g/7/21"))
    }

    @Test func exportRefusesANonEmptyDirectoryAndBadArguments() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("adapterctl-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try ExportCommand.checkWritable(directory)   // empty: fine
        try Data("x".utf8).write(to: URL(fileURLWithPath: directory + "/keep"))
        #expect(throws: CLIError.self) { try ExportCommand.checkWritable(directory) }
        #expect(await AdapterCtl.run(arguments: ["export", "abc", directory, "--socket", "/nonexistent"]) == ExitStatus.usage.rawValue)
        #expect(await AdapterCtl.run(arguments: ["export", "3", directory, "--socket", "/nonexistent"]) == ExitStatus.usage.rawValue)
        #expect(await AdapterCtl.run(arguments: ["export", "3", "--socket", "/nonexistent"]) == ExitStatus.usage.rawValue)
        #expect(await AdapterCtl.run(arguments: ["recluster", "--budget", "12 parsecs", "--socket", "/nonexistent"]) == ExitStatus.usage.rawValue)
    }

    @Test func exportWritesCheckedFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("adapterctl-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let weights = Data([1, 2, 3])
        // sha256 of 01 02 03
        let sha = "039058c6f2c0cb492c533b0a4d14ef77cc0f78abccced5287d84a1a2011cfb81"
        var result = ExportResult(cluster: 1, generation: 1, kind: "merged", tasks: ["a"], sha256: sha, scale: 1,
                                  config: "{}", safetensors: weights.base64EncodedString())
        try ExportCommand.write(result, to: directory)
        #expect(FileManager.default.contents(atPath: directory + "/adapter_model.safetensors") == weights)
        #expect(FileManager.default.contents(atPath: directory + "/adapter_config.json") == Data("{}".utf8))
        result.sha256 = String(repeating: "0", count: 64)
        #expect(throws: CLIError.self) { try ExportCommand.write(result, to: directory + "-2") }
    }
}

enum ServedSetTypesFixture {
    static let plan = PlanResult(
        dryRun: false, generation: 7, kind: "clustered", clusterCount: 2,
        clusters: [
            PlanCluster(index: 0, id: 21, kind: "merged", tasks: ["a", "b"], rank: 8, bytes: 17_600, sha256: "ab12", baseModel: "m"),
            PlanCluster(index: 1, id: 22, kind: "own", tasks: ["c"], rank: 4, bytes: 9_000, sha256: "cd34", baseModel: "m"),
        ],
        tasks: [PlanTask(task: "a", version: 1, cluster: 0, retainedQuality: 0.8),
                PlanTask(task: "b", version: 3, cluster: 0, retainedQuality: 0.6),
                PlanTask(task: "c", version: 1, cluster: 1, retainedQuality: 1)],
        totalBytes: 26_600, budget: .bytes(30_000), ownTotalBytes: 44_000, dtype: "F16", evaluator: "weight-space",
        evaluatorNote: "external:x failed", merger: "svd", meanRetainedQuality: 0.8, worstRetainedQuality: 0.6,
        worstTask: "b", rounds: 2, evaluations: 12, seconds: 0.25, plannedAt: "2026-11-26T23:00:00Z")
}
