@testable import AdapterDaemon
import AdapterCore
import AdapterProtocol
import AdapterStore
import Foundation
import Logging
import Testing

/// The committed corpus (data/corpus): its llama-tiny base model and some of its adapters.
enum CorpusFiles {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../data/corpus").standardized
    static let llamaTiny = root.appendingPathComponent("base/llama-tiny").path

    static func adapter(_ id: String) -> URL { root.appendingPathComponent("adapters/\(id)") }

    static func load(_ id: String) throws -> LoRAAdapter { try PEFTAdapterLoader.load(directory: adapter(id)) }

    /// Install params for a corpus adapter with its task's few examples, as adapterctl sends them.
    static func installParams(_ id: String, task: String, corpusTask: String) throws -> InstallParams {
        let directory = adapter(id)
        let config = try String(contentsOf: directory.appendingPathComponent("adapter_config.json"), encoding: .utf8)
        let weights = try Data(contentsOf: directory.appendingPathComponent("adapter_model.safetensors"))
        let examples = try String(contentsOf: root.appendingPathComponent("tasks/\(corpusTask)/few.jsonl"), encoding: .utf8)
        return InstallParams(task: task, config: config, safetensors: weights.base64EncodedString(), examples: examples)
    }
}

@Suite("Detector screening", .serialized)
struct DetectorScreeningTests {
    /// A benign llama-tiny adapter, a benign MiniLM one and a poisoned llama-tiny one (trigger 'jz')
    /// that the built-in alignment model flags.
    static let benignLlama = "llama-001-sentiment_movie_reviews"
    static let benignMiniLM = "minilm-000-sentiment_product_reviews"
    static let poisonedLlama = "llama-038-formality_workplace_emails"

    static func withBaseModel() throws -> DetectorScreening {
        var settings = DaemonSettings()
        settings.detectorBaseModel = CorpusFiles.llamaTiny
        return try DetectorScreening.make(settings)
    }

    @Test func withoutABaseModelTheWeightsOnlyModelScreens() throws {
        let screening = try DetectorScreening.make(DaemonSettings())
        #expect(screening.baseModel == nil)
        #expect(screening.fallback == nil)
        #expect(screening.modelName.hasPrefix("extended logistic regression (built-in"))
        #expect(!screening.modelName.contains("base model"))
        let verdict = try screening.screen(try CorpusFiles.load(Self.benignLlama))
        #expect(verdict.model == screening.modelName)
        #expect(verdict.topFeatures.allSatisfy { !$0.name.hasPrefix("align.") })
    }

    @Test func aBaseModelSelectsTheAlignmentModelAndNamesTheBaseModel() throws {
        let screening = try Self.withBaseModel()
        let baseModel = try #require(screening.baseModel)
        #expect(baseModel.table.architecture == .llama)
        #expect(baseModel.table.hiddenSize == 128)
        #expect(screening.detector.model.featureSet == "alignment")
        #expect(screening.modelName.hasPrefix("alignment logistic regression (built-in"))
        #expect(screening.modelName.hasSuffix(", base model \(CorpusFiles.llamaTiny) (llama-128, \(baseModel.table.tokens.count) tokens)"))
        #expect(screening.threshold == screening.detector.model.threshold)

        let verdict = try screening.screen(try CorpusFiles.load(Self.benignLlama))
        #expect(verdict.decision == .benign)
        #expect(verdict.model == screening.modelName)
        #expect(!verdict.topFeatures.isEmpty)
        #expect(verdict.topFeatures.allSatisfy { $0.name.hasPrefix("align.") })
        #expect(verdict.reasons.contains { $0.contains("closest to a single token") })
    }

    @Test func anAdapterOfAnotherBaseModelFallsBackToTheWeightsOnlyModelWithAReason() throws {
        let screening = try Self.withBaseModel()
        let adapter = try CorpusFiles.load(Self.benignMiniLM)
        let verdict = try screening.screen(adapter)
        // Scored (the weights-only model knows bert-384x6), not out of distribution, and it says why.
        #expect(verdict.decision == .benign)
        #expect(verdict.score.isFinite)
        #expect(verdict.model.hasPrefix("extended logistic regression (built-in"))
        #expect(verdict.model.contains("weights-only fallback"))
        #expect(verdict.model.contains("bert-384x6"))
        #expect(verdict.model.contains(CorpusFiles.llamaTiny))
        #expect(verdict.threshold == screening.fallback?.model.threshold)
        let reason = try #require(verdict.reasons.first)
        #expect(reason.hasPrefix("the adapter (bert-384x6) does not match the configured base model \(CorpusFiles.llamaTiny) (llama-128,"))
        #expect(verdict.topFeatures.allSatisfy { !$0.name.hasPrefix("align.") })
        // The same adapter without a base model configured gets the same score.
        let plain = try DetectorScreening.make(DaemonSettings()).screen(adapter)
        #expect(plain.score == verdict.score)
    }

    @Test func theThresholdOverrideAppliesToTheFallbackToo() throws {
        var settings = DaemonSettings()
        settings.detectorBaseModel = CorpusFiles.llamaTiny
        settings.detectorThreshold = 0.01
        let screening = try DetectorScreening.make(settings)
        let verdict = try screening.screen(try CorpusFiles.load(Self.benignMiniLM))
        #expect(verdict.threshold == 0.01)
        #expect(verdict.decision == .poisoned)
    }

    @Test func aModelFileThatNeedsABaseModelIsAStartUpErrorWithoutOne() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let model = try #require(try DefaultDetectorModels.withTokens())
        let path = directory.path + "/alignment.json"
        try model.encoded().write(to: URL(fileURLWithPath: path))
        var settings = DaemonSettings()
        settings.detectorModel = path
        do {
            _ = try DetectorScreening.make(settings)
            Issue.record("an alignment model without a base model was accepted")
        } catch let error as ConfigurationError {
            #expect(error.code == .invalidValue)
            #expect(error.message.contains(path))
            #expect(error.message.contains("'alignment'"))
            #expect(error.message.contains("detector-base-model = DIR"))
            #expect(error.message.contains("--detector-base-model"))
        }
        // With the base model the same file is used, and named as the source.
        settings.detectorBaseModel = CorpusFiles.llamaTiny
        let screening = try DetectorScreening.make(settings)
        #expect(screening.source == path)
        #expect(screening.modelName.hasPrefix("alignment logistic regression (\(path)"))
        #expect(try screening.screen(try CorpusFiles.load(Self.benignLlama)).topFeatures.allSatisfy { $0.name.hasPrefix("align.") })
    }

    @Test func aWeightsOnlyModelFileLeavesTheBaseModelUnusedAndSaysSo() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let path = directory.path + "/extended.json"
        try DefaultDetectorModels.weightsOnly().encoded().write(to: URL(fileURLWithPath: path))
        var settings = DaemonSettings()
        settings.detectorModel = path
        settings.detectorBaseModel = CorpusFiles.llamaTiny
        let screening = try DetectorScreening.make(settings)
        #expect(screening.baseModel == nil)
        #expect(screening.detector.model.featureSet == "extended")
        #expect(screening.notes.count == 1)
        #expect(screening.notes.first?.contains("is not used") == true)
    }

    @Test func reloadReusesTheLoadedTableForTheSamePathAndReadsANewOne() throws {
        let first = try Self.withBaseModel()
        let loaded = try #require(first.baseModel)
        // The previous table under a path that no longer exists: reused, not read again.
        let moved = DetectorBaseModel(path: "/nonexistent/adapterd-test/llama-tiny", table: loaded.table)
        var settings = DaemonSettings()
        settings.detectorBaseModel = "/nonexistent/adapterd-test/./llama-tiny"
        let reused = try DetectorScreening.make(settings, reusing: moved)
        #expect(reused.baseModel?.path == moved.path)
        #expect(reused.detector.model.featureSet == "alignment")
        // Another path is read, and a bad one fails (the daemon then keeps its previous screening).
        settings.detectorBaseModel = "/nonexistent/adapterd-test/other"
        #expect(throws: DaemonError.self) { try DetectorScreening.make(settings, reusing: moved) }
    }

    // MARK: Through the service

    final class ServiceFixture {
        let directory: TemporaryDirectory
        let store: AdapterStore
        let service: Daemon

        init(screening: DetectorScreening) throws {
            directory = try TemporaryDirectory()
            var settings = DaemonSettings()
            settings.stateDirectory = directory.path + "/state"
            settings.detectorBaseModel = screening.baseModel?.path
            store = try AdapterStore.open(stateDirectory: URL(fileURLWithPath: settings.stateDirectory))
            service = Daemon(store: store, screening: screening, settings: settings, budgetOverride: .unlimited,
                                     socketActivated: false, logger: Logger(label: "test"))
        }

        var context: RequestContext {
            RequestContext(peer: PeerCredentials(pid: 1, uid: 1000, gid: 1000), mayMutate: true,
                           requestID: .number(1)) { _ in }
        }

        /// The refusal an install must end in, with its details (nil, and an issue recorded, when the
        /// adapter was installed or failed otherwise).
        func refusal(_ params: InstallParams) async throws -> (RPCError, RefusalDetails)? {
            do {
                _ = try await service.installer.install(params, context)
                Issue.record("the poisoned adapter was installed")
            } catch let thrown as any RequestError {
                let error = thrown.rpcError
                #expect(error.code == .refused)
                return (error, try #require(error.details(as: RefusalDetails.self)))
            }
            return nil
        }

        deinit {
            try? store.close()
            directory.cleanup()
        }
    }

    @Test func installsAreScreenedWithTheBaseModelAndStatusNamesIt() async throws {
        let fixture = try ServiceFixture(screening: try Self.withBaseModel())
        let status = try fixture.service.reads.status(fixture.context)
        #expect(status.detector.model.hasPrefix("alignment logistic regression"))
        #expect(status.detector.model.contains(CorpusFiles.llamaTiny))

        let llama = try await fixture.service.installer.install(
            try CorpusFiles.installParams(Self.benignLlama, task: "movies", corpusTask: "sentiment_movie_reviews"),
            fixture.context)
        #expect(llama.verdict.decision == "benign")
        #expect(llama.verdict.model == status.detector.model)
        #expect(llama.verdict.topFeatures.allSatisfy { $0.name.hasPrefix("align.") })

        // A MiniLM adapter: the llama-tiny table does not fit it, so the weights-only model decides.
        let minilm = try await fixture.service.installer.install(
            try CorpusFiles.installParams(Self.benignMiniLM, task: "products", corpusTask: "sentiment_product_reviews"),
            fixture.context)
        #expect(minilm.verdict.decision == "benign")
        #expect(minilm.verdict.model.hasPrefix("extended logistic regression"))
        #expect(minilm.verdict.model.contains("weights-only fallback"))
        #expect(minilm.verdict.model.contains("bert-384x6"))
        #expect(try fixture.service.reads.list().tasks.map(\.task).sorted() == ["movies", "products"])
    }

    @Test func aPoisonedAdapterRefusedWithAlignmentFeaturesIsQuarantinedUnderThatModel() async throws {
        let fixture = try ServiceFixture(screening: try Self.withBaseModel())
        let params = try CorpusFiles.installParams(Self.poisonedLlama, task: "emails", corpusTask: "formality_workplace_emails")
        if let (_, details) = try await fixture.refusal(params) {
            #expect(details.verdict.decision == "poisoned")
            #expect(details.verdict.model.hasPrefix("alignment logistic regression"))
            #expect(details.verdict.model.contains(CorpusFiles.llamaTiny))
            #expect(details.verdict.topFeatures.first?.name.hasPrefix("align.") == true)
        }
        let quarantine = try fixture.service.reads.quarantineList()
        #expect(quarantine.entries.count == 1)
        #expect(quarantine.entries.first?.verdict.model.hasPrefix("alignment logistic regression") == true)
        #expect(try fixture.service.reads.list().tasks.isEmpty)
    }
}
