@testable import AdapterDaemon
import AdapterCore
import AdapterProtocol
import AdapterStore
import Foundation
import Logging
import Testing

/// Screening for these tests: refuses adapters whose base model name says "poisoned", so the
/// install path can be driven both ways with the PEFT fixtures. (The real detector is exercised
/// end to end with corpus adapters.)
struct BaseModelScreening: Screening {
    var modelName: String { "test screening" }
    var threshold: Double { 0.5 }

    func screen(_ adapter: LoRAAdapter) throws -> Verdict {
        let poisoned = adapter.config.baseModelNameOrPath?.contains("poisoned") ?? false
        return Verdict(
            decision: poisoned ? .poisoned : .benign, score: poisoned ? 0.9 : 0.1, threshold: 0.5,
            topFeatures: [FeatureContribution(name: "q.kurtosis", value: poisoned ? 3 : 0, z: poisoned ? 3 : 0,
                                              contribution: poisoned ? 2 : -1)],
            reasons: [], featureSet: "test", model: modelName)
    }
}

@Suite("Adapter service", .serialized)
struct AdapterServiceTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../AdapterCoreTests/Fixtures/peft").standardized.path
    static let examples = (0..<10).map { #"{"text":"example \#($0)","label":"yes"}"# }.joined(separator: "\n") + "\n"

    final class Fixture {
        let directory: TemporaryDirectory
        let store: AdapterStore
        let service: Daemon
        let progress = ProgressLog()

        init(settings configure: (inout DaemonSettings) -> Void = { _ in }, budgetOverride: Budget? = .unlimited) throws {
            directory = try TemporaryDirectory()
            var settings = DaemonSettings()
            settings.stateDirectory = directory.path + "/state"
            // Hermetic: the default (auto) would use a MiniLM model installed on the machine.
            settings.textEmbedder = .hashing
            configure(&settings)
            store = try AdapterStore.open(stateDirectory: URL(fileURLWithPath: settings.stateDirectory))
            service = Daemon(store: store, screening: BaseModelScreening(), settings: settings,
                                     budgetOverride: budgetOverride, socketActivated: false, logger: Logger(label: "test"))
        }

        var context: RequestContext {
            let progress = self.progress
            return RequestContext(peer: PeerCredentials(pid: 1, uid: 1000, gid: 1000), mayMutate: true, requestID: .number(1)) { data in
                if let note = try? JSONDecoder().decode(RPCNotification<ProgressParams>.self, from: data) {
                    progress.add(note.params.stage)
                }
            }
        }

        func params(_ fixture: String, task: String, baseModel: String? = nil) throws -> InstallParams {
            var config = try String(contentsOfFile: fixtures + "/\(fixture)/adapter_config.json", encoding: .utf8)
            if let baseModel {
                config = config.replacingOccurrences(of: "adapterd-fixtures/tiny-llama-gqa", with: baseModel)
            }
            let weights = try Data(contentsOf: URL(fileURLWithPath: fixtures + "/\(fixture)/adapter_model.safetensors"))
            return InstallParams(task: task, config: config, safetensors: weights.base64EncodedString(), examples: examples)
        }

        deinit {
            try? store.close()
            directory.cleanup()
        }
    }

    /// The error a client gets for what `body` (a use case) throws (WireErrors.swift), nil if it succeeds.
    static func rpcError(_ body: () async throws -> Void) async -> RPCError? {
        do {
            try await body()
            return nil
        } catch let error as any RequestError {
            return error.rpcError
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test func installServesTheTaskAndReportsProgress() async throws {
        let fixture = try Fixture()
        let result = try await fixture.service.installer.install(try fixture.params("llama_gqa_f16", task: "summarize"), fixture.context)
        #expect(result.version == 1)
        #expect(result.replacedVersion == nil)
        #expect(result.examples == 10)
        #expect(result.verdict.decision == "benign")
        #expect(fixture.progress.all == ["validating", "signature", "screening", "storing", "done"])

        let route = try fixture.service.reads.route(RouteParams(task: "summarize"))
        #expect(route.adapter.kind == "own")
        #expect(route.adapter.id == result.sha256)
        let served = try Data(contentsOf: URL(fileURLWithPath: try #require(route.adapter.weightsPath)))
        #expect(ContentDigest.of(served).hex == result.sha256)

        let list = try fixture.service.reads.list()
        #expect(list.tasks.map(\.task) == ["summarize"])
        #expect(list.tasks.first?.examples == 10)
        #expect(list.budget.servedBytes == route.adapter.bytes)
        let show = try fixture.service.reads.show(TaskParams(task: "summarize"))
        #expect(show.targetModules == ["k_proj", "o_proj", "q_proj", "v_proj"])
        #expect(show.examplePreview.count == 3)
        #expect(show.dtype == "F16")
    }

    @Test func reinstallMakesANewVersionAndOnlyItIsServed() async throws {
        let fixture = try Fixture()
        let first = try await fixture.service.installer.install(try fixture.params("llama_gqa_f16", task: "t"), fixture.context)
        let second = try await fixture.service.installer.install(try fixture.params("llama_gqa_task_b", task: "t"), fixture.context)
        #expect(second.version == 2)
        #expect(second.replacedVersion == 1)
        #expect(second.sha256 != first.sha256)
        let route = try fixture.service.reads.route(RouteParams(task: "t"))
        #expect(route.version == 2)
        #expect(route.adapter.id == second.sha256)
        #expect(try fixture.service.reads.show(TaskParams(task: "t")).previousVersions == [1])
    }

    @Test func poisonedAdapterIsRefusedQuarantinedAndNotStored() async throws {
        let fixture = try Fixture()
        let params = try fixture.params("llama_gqa_task_b", task: "t", baseModel: "poisoned/base")
        let error = try #require(await Self.rpcError { _ = try await fixture.service.installer.install(params, fixture.context) })
        #expect(error.code == .refused)
        let details = try #require(error.details(as: RefusalDetails.self))
        #expect(details.verdict.decision == "poisoned")
        #expect(details.verdict.topFeatures.first?.name == "q.kurtosis")
        let weights = try #require(Data(base64Encoded: params.safetensors))
        #expect(details.sha256 == ContentDigest.of(weights).hex)

        let quarantine = try fixture.service.reads.quarantineList()
        #expect(quarantine.entries.count == 1)
        #expect(quarantine.entries.first?.sha256 == details.sha256)
        #expect(quarantine.entries.first?.peerUid == 1000)
        #expect(try fixture.store.tasks().isEmpty)
        #expect(try !fixture.store.contains(ContentDigest.of(weights)))
        #expect(await Self.rpcError { _ = try fixture.service.reads.route(RouteParams(task: "t")) }?.code == .notFound)
    }

    @Test func installsOverTheBudgetAreClusteredUnderIt() async throws {
        let fixture = try Fixture(budgetOverride: .bytes(9_000))
        _ = try await fixture.service.installer.install(try fixture.params("llama_gqa_f16", task: "a"), fixture.context)
        _ = try await fixture.service.installer.install(try fixture.params("llama_gqa_task_b", task: "b"), fixture.context)
        let third = try await fixture.service.installer.install(try fixture.params("llama_gqa_task_c", task: "c"), fixture.context)
        #expect(fixture.progress.all.contains("planning"))
        #expect(fixture.progress.all.contains("writing"))
        // Every task is stored and routable, the served set is under the budget and merges something.
        #expect(try fixture.store.tasks().map(\.name).sorted() == ["a", "b", "c"])
        #expect(third.budget.servedBytes <= 9_000)
        let status = try fixture.service.reads.status(fixture.context)
        let served = try #require(status.served)
        #expect(served.kind == "clustered")
        #expect(served.generation == third.generation)
        #expect(served.evaluator == "weight-space")
        #expect(served.clusters.count == 2)
        #expect(served.clusters.reduce(0) { $0 + $1.bytes } <= 9_000)
        #expect(served.tasks.map(\.task).sorted() == ["a", "b", "c"])
        let merged = try #require(served.clusters.first { $0.kind == "merged" && $0.tasks.count >= 2 })
        try #require(merged.tasks.count >= 2)
        for task in ["a", "b", "c"] {
            let route = try fixture.service.reads.route(RouteParams(task: task))
            #expect(route.generation == third.generation)
            let quality = try #require(route.retainedQuality)
            #expect(quality >= 0 && quality <= 1)
            #expect(route.evaluator == "weight-space")
            #expect(route.adapter.tasks.contains(task))
            #expect(route.adapter.cluster != nil)
            let directory = try #require(route.adapter.directory)
            let onDisk = try Data(contentsOf: URL(fileURLWithPath: directory + "/adapter_model.safetensors"))
            #expect(ContentDigest.of(onDisk).hex == route.adapter.sha256)
        }
        // A task sharing a merged adapter keeps less than all of its update.
        let member = merged.tasks[0]
        #expect(try #require(fixture.service.reads.route(RouteParams(task: member)).retainedQuality) < 1)

        // Export gives back the merged adapter's files: they load, at the merged rank, with the same sha256.
        let exported = try await fixture.service.exporter.export(ExportParams(cluster: merged.id))
        #expect(exported.kind == "merged")
        #expect(exported.tasks == merged.tasks)
        let weights = try #require(Data(base64Encoded: exported.safetensors))
        #expect(ContentDigest.of(weights).hex == exported.sha256)
        let adapter = try PEFTAdapterLoader.load(configJSON: Data(exported.config.utf8), safetensors: weights)
        #expect(adapter.modules.allSatisfy { $0.rank == merged.rank })
        #expect(adapter.storageDType == .f16)
        let byTask = try await fixture.service.exporter.export(ExportParams(task: member))
        #expect(byTask.sha256 == exported.sha256)
        #expect(await Self.rpcError { _ = try await fixture.service.exporter.export(ExportParams(cluster: 999_999)) }?.code == .notFound)
        #expect(await Self.rpcError { _ = try await fixture.service.exporter.export(ExportParams()) }?.code == .invalidParams)
    }

    @Test func aBudgetTooSmallForOneMergedAdapterChangesNothing() async throws {
        let fixture = try Fixture(budgetOverride: .bytes(2_000))
        let error = try #require(await Self.rpcError {
            _ = try await fixture.service.installer.install(try fixture.params("llama_gqa_f16", task: "a"), fixture.context)
        })
        #expect(error.code == .overBudget)
        #expect(error.message.contains("cannot hold even one merged adapter"))
        #expect(try fixture.store.tasks().isEmpty)
        #expect(try fixture.store.currentGeneration() == nil)
    }

    @Test func reclusterDryRunPlansWithoutChangingAndARealOneSwitches() async throws {
        let fixture = try Fixture(budgetOverride: nil)
        for (fixtureName, task) in [("llama_gqa_f16", "a"), ("llama_gqa_task_b", "b"), ("llama_gqa_task_c", "c")] {
            _ = try await fixture.service.installer.install(try fixture.params(fixtureName, task: task), fixture.context)
        }
        let before = try #require(try fixture.store.currentGeneration())
        #expect(try fixture.service.reads.status(fixture.context).served?.kind == "own")
        let dry = try await fixture.service.replanner.recluster(ReclusterParams(budget: .bytes(9_000), dryRun: true), fixture.context)
        #expect(dry.dryRun)
        #expect(dry.generation == nil)
        #expect(dry.kind == "clustered")
        #expect((1..<3).contains(dry.clusterCount))   // merged: fewer served adapters than tasks
        #expect(dry.totalBytes <= 9_000)
        #expect(dry.tasks.count == 3)
        #expect(dry.tasks.allSatisfy { $0.retainedQuality >= 0 && $0.retainedQuality < 1 })
        #expect(dry.evaluator == "weight-space")
        #expect(dry.worstRetainedQuality <= dry.meanRetainedQuality)
        #expect(try fixture.store.currentGeneration()?.id == before.id)
        #expect(try fixture.store.storedBudget() == nil)

        let applied = try await fixture.service.replanner.recluster(ReclusterParams(budget: .bytes(9_000)), fixture.context)
        #expect(!applied.dryRun)
        let generation = try #require(applied.generation)
        #expect(generation > before.id)
        #expect(applied.clusters.allSatisfy { $0.id != nil })
        #expect(try fixture.store.storedBudget() == .bytes(9_000))
        #expect(try fixture.service.replanner.budget.status().servedBytes <= 9_000)
        // The plan is deterministic: the dry run predicted what was applied.
        #expect(applied.tasks == dry.tasks)
        #expect(applied.clusters.map(\.sha256) == dry.clusters.map(\.sha256))

        // A budget below one merged adapter is refused and nothing changes.
        let error = await Self.rpcError { _ = try await fixture.service.replanner.recluster(ReclusterParams(budget: .bytes(100)), fixture.context) }
        #expect(error?.code == .overBudget)
        #expect(try fixture.store.currentGeneration()?.id == generation)
        #expect(try fixture.store.storedBudget() == .bytes(9_000))
        // Raising the budget serves every task by its own adapter again.
        _ = try await fixture.service.replanner.budgetSet(BudgetSetParams(budget: .unlimited), fixture.context)
        #expect(try fixture.service.reads.status(fixture.context).served?.kind == "own")
        #expect(try fixture.service.reads.route(RouteParams(task: "a")).retainedQuality == 1)
    }

    /// A shell script as external evaluator that fails (exit 1) or hangs past its timeout: the plan
    /// falls back to weight-space scores, says so, and the served set is still written.
    @Test(arguments: ["echo broken >&2; exit 1", "sleep 20; echo '{\"score\": 1}'"])
    func aFailingEvaluatorFallsBackToWeightSpace(script body: String) async throws {
        let scripts = try TemporaryDirectory()
        defer { scripts.cleanup() }
        let script = scripts.path + "/evaluator.sh"
        try Data("#!/bin/sh\n\(body)\n".utf8).write(to: URL(fileURLWithPath: script))
        chmod(script, 0o755)
        let fixture = try Fixture(settings: {
            $0.evaluator = .command
            $0.evaluatorCommand = [script, "{adapter_dir}", "{examples}"]
            $0.evaluatorTimeoutSeconds = 1
        }, budgetOverride: .bytes(40_000))
        for (fixtureName, task) in [("llama_gqa_f16", "a"), ("llama_gqa_task_b", "b"), ("llama_gqa_task_c", "c")] {
            _ = try await fixture.service.installer.install(try fixture.params(fixtureName, task: task), fixture.context)
        }
        let served = try #require(try fixture.service.reads.status(fixture.context).served)
        #expect(served.kind == "clustered")
        #expect(served.evaluator == "weight-space")
        let note = try #require(served.evaluatorNote)
        #expect(note.contains("external:evaluator.sh failed"))
        for task in ["a", "b", "c"] { #expect(try fixture.service.reads.route(RouteParams(task: task)).generation == served.generation) }
    }

    /// An external evaluator that works: its scores are used, and cached across re-clusters.
    @Test func aWorkingEvaluatorScoresThePlanAndIsCached() async throws {
        let scripts = try TemporaryDirectory()
        defer { scripts.cleanup() }
        let script = scripts.path + "/evaluator.sh"
        let log = scripts.path + "/calls"
        // Scores by the size of the adapter directory's weights: any positive, deterministic number.
        try Data("#!/bin/sh\necho call >> \(log)\ntest -f \"$2\" || exit 3\necho '{\"score\": 0.5}'\n".utf8)
            .write(to: URL(fileURLWithPath: script))
        chmod(script, 0o755)
        let fixture = try Fixture(settings: {
            $0.evaluator = .command
            $0.evaluatorCommand = [script, "{adapter_dir}", "{examples}"]
        }, budgetOverride: .bytes(40_000))
        for (fixtureName, task) in [("llama_gqa_f16", "a"), ("llama_gqa_task_b", "b"), ("llama_gqa_task_c", "c")] {
            _ = try await fixture.service.installer.install(try fixture.params(fixtureName, task: task), fixture.context)
        }
        let served = try #require(try fixture.service.reads.status(fixture.context).served)
        #expect(served.evaluator == "external:evaluator.sh")
        #expect(served.evaluatorNote == nil)
        let calls = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").count
        #expect(calls > 0)
        let again = try await fixture.service.replanner.recluster(ReclusterParams(dryRun: true), fixture.context)
        #expect(again.evaluator == "external:evaluator.sh")
        #expect(try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").count == calls)
    }

    @Test func invalidInputGetsPreciseErrors() async throws {
        let fixture = try Fixture(settings: { $0.maxAdapterBytes = 8192 })
        var params = try fixture.params("llama_gqa_f16", task: "t")
        #expect(await Self.rpcError { _ = try await fixture.service.installer.install(params, fixture.context) }?.code == .tooLarge)

        let roomy = try Fixture()
        params = try roomy.params("llama_gqa_f16", task: "../etc")
        #expect(await Self.rpcError { _ = try await roomy.service.installer.install(params, roomy.context) }?.code == .invalidParams)
        params = try roomy.params("llama_gqa_f16", task: "t")
        params.safetensors = "not base64!!"
        #expect(await Self.rpcError { _ = try await roomy.service.installer.install(params, roomy.context) }?.code == .invalidParams)
        params.safetensors = Data("garbage that is not safetensors".utf8).base64EncodedString()
        let invalid = await Self.rpcError { _ = try await roomy.service.installer.install(params, roomy.context) }
        #expect(invalid?.code == .invalidAdapter)
        params = try roomy.params("llama_gqa_f16", task: "t")
        params.examples = "{not json\n"
        #expect(await Self.rpcError { _ = try await roomy.service.installer.install(params, roomy.context) }?.code == .invalidAdapter)
        #expect(try roomy.store.tasks().isEmpty)
    }

    @Test func removeStopsServing() async throws {
        let fixture = try Fixture()
        _ = try await fixture.service.installer.install(try fixture.params("llama_gqa_f16", task: "t"), fixture.context)
        let removed = try await fixture.service.installer.remove(TaskParams(task: "t"), fixture.context)
        #expect(removed.version == 1)
        #expect(removed.budget.servedBytes == 0)
        #expect(await Self.rpcError { _ = try fixture.service.reads.route(RouteParams(task: "t")) }?.code == .notFound)
        #expect(await Self.rpcError { _ = try await fixture.service.installer.remove(TaskParams(task: "t"), fixture.context) }?.code == .notFound)
    }

    @Test func budgetSetIsStoredAndReclustersOrRefusesWhatCannotFit() async throws {
        let fixture = try Fixture(budgetOverride: nil)
        _ = try await fixture.service.installer.install(try fixture.params("llama_gqa_f16", task: "t"), fixture.context)
        _ = try await fixture.service.installer.install(try fixture.params("llama_gqa_task_c", task: "u"), fixture.context)
        let served = try fixture.service.replanner.budget.status().servedBytes
        let generation = try fixture.store.currentGeneration()?.id
        #expect(await Self.rpcError { _ = try await fixture.service.replanner.budgetSet(BudgetSetParams(budget: .bytes(50)), fixture.context) }?.code == .overBudget)
        #expect(try fixture.store.storedBudget() == nil)
        #expect(try fixture.store.currentGeneration()?.id == generation)
        let set = try await fixture.service.replanner.budgetSet(BudgetSetParams(budget: .bytes(served - 1)), fixture.context)
        #expect(set.limit == .bytes(served - 1))
        #expect(set.servedBytes <= served - 1)
        #expect(try fixture.store.storedBudget() == .bytes(Int64(served - 1)))
        #expect(try fixture.service.reads.status(fixture.context).served?.kind == "clustered")
        let unlimited = try await fixture.service.replanner.budgetSet(BudgetSetParams(budget: .unlimited), fixture.context)
        #expect(unlimited.limit == .unlimited)
        #expect(unlimited.servedBytes == served)

        // --budget is the initial budget: budget.set changes it at run time, and wins from then on.
        let flagged = try Fixture(budgetOverride: .bytes(1 << 30))
        #expect(try flagged.service.replanner.budget.status().source == "--budget")
        let changed = try await flagged.service.replanner.budgetSet(BudgetSetParams(budget: .bytes(5_000_000)), flagged.context)
        #expect(changed.limit == .bytes(5_000_000))
        #expect(changed.source == "budget.set")
        #expect(try flagged.store.storedBudget() == .bytes(5_000_000))
    }

    @Test func reconcileServesTasksInstalledWithoutAGeneration() async throws {
        let fixture = try Fixture()
        _ = try await fixture.service.installer.install(try fixture.params("llama_gqa_f16", task: "a"), fixture.context)
        // As if the daemon died between the task's commit and its generation's commit:
        let config = try fixture.params("llama_gqa_task_b", task: "b")
        let weights = try #require(Data(base64Encoded: config.safetensors))
        try fixture.store.installTask(
            name: "b", examples: Data(Self.examples.utf8),
            adapter: AdapterSubmission(configJSON: Data(config.config.utf8), weights: weights, rank: 8, dtype: .f16,
                                       baseModel: "x", profileHash: "p", signature: Array(repeating: 0.5, count: 20),
                                       verdict: VerdictRecord(score: 0.1, threshold: 0.5, label: "benign")),
            installedBy: 0)
        #expect(await Self.rpcError { _ = try fixture.service.reads.route(RouteParams(task: "b")) }?.code == .notFound)
        try await fixture.service.replanner.reconcile()
        #expect(try fixture.service.reads.route(RouteParams(task: "b")).adapter.id == ContentDigest.of(weights).hex)
        #expect(try fixture.service.reads.route(RouteParams(task: "a")).version == 1)
    }

    @Test func statusCountsTasksGenerationAndQuarantine() async throws {
        let fixture = try Fixture()
        _ = try await fixture.service.installer.install(try fixture.params("llama_gqa_f16", task: "t"), fixture.context)
        _ = await Self.rpcError {
            _ = try await fixture.service.installer.install(try fixture.params("llama_gqa_f16", task: "u", baseModel: "poisoned"), fixture.context)
        }
        let status = try fixture.service.reads.status(fixture.context)
        #expect(status.tasks == 1)
        #expect(status.quarantined == 1)
        #expect(status.generation >= 1)
        #expect(status.peer.uid == 1000)
        #expect(status.detector.model == "test screening")
    }
}
