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

    func screen(_ adapter: LoRAAdapter) throws -> ScreeningVerdict {
        let poisoned = adapter.config.baseModelNameOrPath?.contains("poisoned") ?? false
        return ScreeningVerdict(
            decision: poisoned ? .poisoned : .benign, score: poisoned ? 0.9 : 0.1, threshold: 0.5,
            topFeatures: [VerdictFeature(name: "q.kurtosis", value: poisoned ? 3 : 0, contribution: poisoned ? 2 : -1)],
            model: modelName)
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
        let service: AdapterService
        let progress = ProgressLog()

        init(settings configure: (inout DaemonSettings) -> Void = { _ in }, budgetOverride: Int64?? = .some(nil)) throws {
            directory = try TemporaryDirectory()
            var settings = DaemonSettings()
            settings.stateDirectory = directory.path + "/state"
            configure(&settings)
            store = try AdapterStore.open(stateDirectory: URL(fileURLWithPath: settings.stateDirectory))
            service = AdapterService(store: store, screening: BaseModelScreening(), settings: settings,
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

    static func rpcError(_ body: () async throws -> Void) async -> RPCError? {
        do {
            try await body()
            return nil
        } catch let error as RPCError {
            return error
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test func installServesTheTaskAndReportsProgress() async throws {
        let fixture = try Fixture()
        let result = try await fixture.service.install(try fixture.params("llama_gqa_f16", task: "summarize"), fixture.context)
        #expect(result.version == 1)
        #expect(result.replacedVersion == nil)
        #expect(result.examples == 10)
        #expect(result.verdict.decision == "benign")
        #expect(fixture.progress.all == ["validating", "signature", "screening", "storing", "done"])

        let route = try fixture.service.route(RouteParams(task: "summarize"))
        #expect(route.adapter.kind == "own")
        #expect(route.adapter.id == result.sha256)
        let served = try Data(contentsOf: URL(fileURLWithPath: try #require(route.adapter.weightsPath)))
        #expect(ContentDigest.of(served).hex == result.sha256)

        let list = try fixture.service.list()
        #expect(list.tasks.map(\.task) == ["summarize"])
        #expect(list.tasks.first?.examples == 10)
        #expect(list.budget.servedBytes == route.adapter.bytes)
        let show = try fixture.service.show(TaskParams(task: "summarize"))
        #expect(show.targetModules == ["k_proj", "o_proj", "q_proj", "v_proj"])
        #expect(show.examplePreview.count == 3)
        #expect(show.dtype == "F16")
    }

    @Test func reinstallMakesANewVersionAndOnlyItIsServed() async throws {
        let fixture = try Fixture()
        let first = try await fixture.service.install(try fixture.params("llama_gqa_f16", task: "t"), fixture.context)
        let second = try await fixture.service.install(try fixture.params("llama_gqa_task_b", task: "t"), fixture.context)
        #expect(second.version == 2)
        #expect(second.replacedVersion == 1)
        #expect(second.sha256 != first.sha256)
        let route = try fixture.service.route(RouteParams(task: "t"))
        #expect(route.version == 2)
        #expect(route.adapter.id == second.sha256)
        #expect(try fixture.service.show(TaskParams(task: "t")).previousVersions == [1])
    }

    @Test func poisonedAdapterIsRefusedQuarantinedAndNotStored() async throws {
        let fixture = try Fixture()
        let params = try fixture.params("llama_gqa_task_b", task: "t", baseModel: "poisoned/base")
        let error = try #require(await Self.rpcError { _ = try await fixture.service.install(params, fixture.context) })
        #expect(error.code == .refused)
        let details = try #require(error.details(as: RefusalDetails.self))
        #expect(details.verdict.decision == "poisoned")
        #expect(details.verdict.topFeatures.first?.name == "q.kurtosis")
        let weights = try #require(Data(base64Encoded: params.safetensors))
        #expect(details.sha256 == ContentDigest.of(weights).hex)

        let quarantine = try fixture.service.quarantineList()
        #expect(quarantine.entries.count == 1)
        #expect(quarantine.entries.first?.sha256 == details.sha256)
        #expect(quarantine.entries.first?.peerUid == 1000)
        #expect(try fixture.store.tasks().isEmpty)
        #expect(try !fixture.store.contains(ContentDigest.of(weights)))
        #expect(await Self.rpcError { _ = try fixture.service.route(RouteParams(task: "t")) }?.code == .notFound)
    }

    @Test func installsThatDoNotFitTheBudgetAreRefusedWithNothingStored() async throws {
        let fixture = try Fixture(budgetOverride: .some(30_000))
        _ = try await fixture.service.install(try fixture.params("llama_gqa_f16", task: "a"), fixture.context)
        let params = try fixture.params("llama_gqa_task_b", task: "b")
        let error = try #require(await Self.rpcError { _ = try await fixture.service.install(params, fixture.context) })
        #expect(error.code == .overBudget)
        let details = try #require(error.details(as: OverBudgetDetails.self))
        #expect(details.limitBytes == 30_000)
        #expect(details.requiredBytes > 30_000)
        #expect(try fixture.store.tasks().map(\.name) == ["a"])
        // Replacing the one task by an adapter of the same size still fits.
        let replaced = try await fixture.service.install(try fixture.params("llama_gqa_task_b", task: "a"), fixture.context)
        #expect(replaced.version == 2)
    }

    @Test func invalidInputGetsPreciseErrors() async throws {
        let fixture = try Fixture(settings: { $0.maxAdapterBytes = 8192 })
        var params = try fixture.params("llama_gqa_f16", task: "t")
        #expect(await Self.rpcError { _ = try await fixture.service.install(params, fixture.context) }?.code == .tooLarge)

        let roomy = try Fixture()
        params = try roomy.params("llama_gqa_f16", task: "../etc")
        #expect(await Self.rpcError { _ = try await roomy.service.install(params, roomy.context) }?.code == .invalidParams)
        params = try roomy.params("llama_gqa_f16", task: "t")
        params.safetensors = "not base64!!"
        #expect(await Self.rpcError { _ = try await roomy.service.install(params, roomy.context) }?.code == .invalidParams)
        params.safetensors = Data("garbage that is not safetensors".utf8).base64EncodedString()
        let invalid = await Self.rpcError { _ = try await roomy.service.install(params, roomy.context) }
        #expect(invalid?.code == .invalidAdapter)
        params = try roomy.params("llama_gqa_f16", task: "t")
        params.examples = "{not json\n"
        #expect(await Self.rpcError { _ = try await roomy.service.install(params, roomy.context) }?.code == .invalidAdapter)
        #expect(try roomy.store.tasks().isEmpty)
    }

    @Test func removeStopsServing() async throws {
        let fixture = try Fixture()
        _ = try await fixture.service.install(try fixture.params("llama_gqa_f16", task: "t"), fixture.context)
        let removed = try fixture.service.remove(TaskParams(task: "t"), fixture.context)
        #expect(removed.version == 1)
        #expect(removed.budget.servedBytes == 0)
        #expect(await Self.rpcError { _ = try fixture.service.route(RouteParams(task: "t")) }?.code == .notFound)
        #expect(await Self.rpcError { _ = try fixture.service.remove(TaskParams(task: "t"), fixture.context) }?.code == .notFound)
    }

    @Test func budgetSetIsStoredAndCannotDropBelowTheServedSet() async throws {
        let fixture = try Fixture(budgetOverride: nil)
        _ = try await fixture.service.install(try fixture.params("llama_gqa_f16", task: "t"), fixture.context)
        let served = try fixture.service.budgetStatus().servedBytes
        #expect(await Self.rpcError { _ = try fixture.service.budgetSet(BudgetSetParams(bytes: served - 1), fixture.context) }?.code == .overBudget)
        let set = try fixture.service.budgetSet(BudgetSetParams(bytes: served + 10), fixture.context)
        #expect(set.limitBytes == served + 10)
        #expect(try fixture.store.budgetBytes() == Int(served + 10))
        let unlimited = try fixture.service.budgetSet(BudgetSetParams(bytes: nil), fixture.context)
        #expect(unlimited.limitBytes == nil)

        let fixed = try Fixture(budgetOverride: .some(1 << 30))
        #expect(await Self.rpcError { _ = try fixed.service.budgetSet(BudgetSetParams(bytes: 5), fixed.context) }?.code == .invalidParams)
    }

    @Test func reconcileServesTasksInstalledWithoutAGeneration() async throws {
        let fixture = try Fixture()
        _ = try await fixture.service.install(try fixture.params("llama_gqa_f16", task: "a"), fixture.context)
        // As if the daemon died between the task's commit and its generation's commit:
        let config = try fixture.params("llama_gqa_task_b", task: "b")
        let weights = try #require(Data(base64Encoded: config.safetensors))
        try fixture.store.installTask(
            name: "b", examples: Data(Self.examples.utf8),
            adapter: AdapterSubmission(configJSON: Data(config.config.utf8), weights: weights, rank: 8, dtype: .f16,
                                       baseModel: "x", profileHash: "p", signature: Array(repeating: 0.5, count: 20),
                                       verdict: VerdictRecord(score: 0.1, threshold: 0.5, label: "benign")),
            installedBy: 0)
        #expect(await Self.rpcError { _ = try fixture.service.route(RouteParams(task: "b")) }?.code == .notFound)
        try fixture.service.reconcile()
        #expect(try fixture.service.route(RouteParams(task: "b")).adapter.id == ContentDigest.of(weights).hex)
        #expect(try fixture.service.route(RouteParams(task: "a")).version == 1)
    }

    @Test func statusCountsTasksGenerationAndQuarantine() async throws {
        let fixture = try Fixture()
        _ = try await fixture.service.install(try fixture.params("llama_gqa_f16", task: "t"), fixture.context)
        _ = await Self.rpcError {
            _ = try await fixture.service.install(try fixture.params("llama_gqa_f16", task: "u", baseModel: "poisoned"), fixture.context)
        }
        let status = try fixture.service.status(fixture.context)
        #expect(status.tasks == 1)
        #expect(status.quarantined == 1)
        #expect(status.generation >= 1)
        #expect(status.peer.uid == 1000)
        #expect(status.detector.model == "test screening")
    }
}
