@testable import AdapterDaemon
import AdapterCore
import AdapterProtocol
import AdapterStore
import Foundation
import Logging
import Testing

/// The built-in data-aware evaluator through the daemon: with `base-model` set, installs record
/// their input sketches, plans score merges on them, status says so, and a restarted daemon reads
/// the sketches back instead of running the model again.
@Suite("Data-aware evaluation", .serialized)
struct DataAwareEvaluationTests {
    /// Three q/k/v/o adapters of the corpus's llama-tiny (ranks 16, 8, 8).
    static let tasks = [("llama-001-sentiment_movie_reviews", "movies", "sentiment_movie_reviews"),
                        ("llama-009-intent_smart_home", "home", "intent_smart_home"),
                        ("llama-011-formality_customer_letters", "letters", "formality_customer_letters")]
    /// Less than the three adapters' own 121 KB: the plan has to merge.
    static let budget: Int64 = 80_000

    /// `evaluator = data-aware` (`auto` scores by label probability on a model this small) with the base model.
    static func fixture(baseModel: String? = CorpusFiles.llamaTiny, budget: Int64 = budget,
                        evaluator: EvaluatorKind = .dataAware) throws -> AdapterServiceTests.Fixture {
        try AdapterServiceTests.Fixture(settings: {
            $0.baseModel = baseModel
            $0.evaluator = evaluator
        }, budgetOverride: .bytes(budget))
    }

    @Test func installsSketchAndPlansScoreOnTheExamples() async throws {
        let fixture = try Self.fixture()
        let service = fixture.service
        for (id, task, corpusTask) in Self.tasks {
            _ = try await service.installer.install(try CorpusFiles.installParams(id, task: task, corpusTask: corpusTask),
                                                    fixture.context)
        }
        let status = try service.reads.status(fixture.context)
        #expect(status.evaluator?.name == "data-aware")
        #expect(status.evaluator?.reason.hasPrefix("evaluator = data-aware; base model \(CorpusFiles.llamaTiny)") == true)
        let served = try #require(status.served)
        #expect(served.kind == "clustered")
        #expect(served.evaluator == "data-aware", "note: \(served.evaluatorNote ?? "none")")
        #expect(served.evaluatorNote == nil)
        #expect(status.budget.servedBytes <= Self.budget)
        #expect(served.tasks.allSatisfy { $0.retainedQuality >= 0 && $0.retainedQuality <= 1 })
        // One forward pass per install, each sketch in the catalog for this base model.
        #expect(service.replanner.sketches.madeCount == 3)
        guard case .dataAware(let model, _) = service.replanner.evaluator.withLockedValue({ $0 }) else {
            Issue.record("the evaluator is not data-aware")
            return
        }
        let stored = try fixture.store.inputSketches(model: model.identity)
        #expect(stored.keys.sorted() == ["home", "letters", "movies"])
        let sketch = try JSONDecoder().decode(TaskInputSketch.self, from: try #require(stored["movies"]))
        let ownBytes = try CorpusFiles.load(Self.tasks[0].0).tensorBytes
        // Half the adapter's bytes for the maps it adapts, an eighth for every other map.
        #expect(sketch.byteSize <= ownBytes / 2 + ownBytes / 8)
        #expect(Set(sketch.modules).isSuperset(of: model.sketcher.model.adaptableLinearNames))

        // A stored sketch without the maps its task does not adapt (as made before they were
        // recorded) is made again; the others are read back.
        let movies = try CorpusFiles.load(Self.tasks[0].0)
        let own = Set(movies.modules.map { model.sketcher.model.canonicalLinearName($0.name) })
        let partial = try TaskInputSketch(spaces: sketch.spaces.filter { !own.isDisjoint(with: $0.modules) },
                                          tokens: sketch.tokens, sequences: sketch.sequences)
        #expect(partial.spaces.count < sketch.spaces.count)
        _ = try fixture.store.saveInputSketch(try JSONEncoder().encode(partial), task: "movies", version: 1,
                                              model: model.identity)

        // A daemon started again on the same state re-plans from the stored sketches.
        let again = Daemon(store: fixture.store, screening: BaseModelScreening(), settings: {
            var settings = DaemonSettings()
            settings.stateDirectory = fixture.directory.path + "/state"
            settings.textEmbedder = .hashing
            settings.baseModel = CorpusFiles.llamaTiny
            settings.evaluator = .dataAware
            return settings
        }(), budgetOverride: .bytes(Self.budget), socketActivated: false, logger: Logger(label: "test"))
        let replanned = try await again.replanner.recluster(ReclusterParams(), fixture.context)
        #expect(replanned.evaluator == "data-aware")
        #expect(again.replanner.sketches.madeCount == 1)
        let remade = try JSONDecoder().decode(TaskInputSketch.self,
                                              from: try #require(try fixture.store.inputSketches(model: model.identity)["movies"]))
        #expect(remade == sketch)

        // Removing a task removes its stored sketch.
        _ = try await service.installer.remove(TaskParams(task: "movies"), fixture.context)
        #expect(try fixture.store.inputSketches(model: model.identity).keys.sorted() == ["home", "letters"])
    }

    /// `evaluator = label-probability`: plans scored by the examples' right-label probability, no
    /// input sketches made.
    @Test func labelProbabilityScoresPlansOnTheExamplesLabels() async throws {
        let fixture = try AdapterServiceTests.Fixture(settings: {
            $0.baseModel = CorpusFiles.llamaTiny
            $0.evaluator = .labelProbability
        }, budgetOverride: .bytes(Self.budget))
        for (id, task, corpusTask) in Self.tasks {
            _ = try await fixture.service.installer.install(
                try CorpusFiles.installParams(id, task: task, corpusTask: corpusTask), fixture.context)
        }
        let status = try fixture.service.reads.status(fixture.context)
        #expect(status.evaluator?.name == "label-probability")
        let served = try #require(status.served)
        #expect(served.kind == "clustered")
        #expect(served.evaluator == "label-probability", "note: \(served.evaluatorNote ?? "none")")
        #expect(served.evaluatorNote == nil)
        #expect(status.budget.servedBytes <= Self.budget)
        #expect(served.tasks.allSatisfy { $0.retainedQuality > 0 })
        #expect(fixture.service.replanner.sketches.madeCount == 0)
    }

    /// `evaluator = auto` on a model this small: label probabilities while every task's examples are
    /// labelled, data-aware scores (from the sketches recorded at install all along) once a task's are not.
    @Test func autoScoresByLabelProbabilityWhileEveryTaskIsLabelled() async throws {
        let fixture = try Self.fixture(evaluator: .auto)
        for (id, task, corpusTask) in Self.tasks {
            _ = try await fixture.service.installer.install(
                try CorpusFiles.installParams(id, task: task, corpusTask: corpusTask), fixture.context)
        }
        let status = try fixture.service.reads.status(fixture.context)
        #expect(status.evaluator?.name == "label-probability")
        #expect(status.evaluator?.reason.hasPrefix("evaluator = auto; base model \(CorpusFiles.llamaTiny) (decoder") == true)
        #expect(status.evaluator?.reason.hasSuffix(": label-probability, or data-aware for a plan with a task whose "
                                                   + "examples have fewer than two labels") == true)
        let served = try #require(status.served)
        #expect(served.kind == "clustered")
        #expect(served.evaluator == "label-probability", "note: \(served.evaluatorNote ?? "none")")
        #expect(served.evaluatorNote == nil)
        #expect(fixture.service.replanner.sketches.madeCount == 3)

        // A task installed with unlabelled examples (its texts alone): the plan is data-aware.
        var unlabelled = try CorpusFiles.installParams("llama-007-intent_banking", task: "banking", corpusTask: "intent_banking")
        unlabelled.examples = try unlabelled.examples.split(separator: "\n").map { line in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return String(decoding: try JSONSerialization.data(withJSONObject: ["text": object["text"]!]), as: UTF8.self)
        }.joined(separator: "\n")
        #expect(!unlabelled.examples.contains("label"))
        _ = try await fixture.service.installer.install(unlabelled, fixture.context)
        let mixed = try #require(try fixture.service.reads.status(fixture.context).served)
        #expect(mixed.evaluator == "data-aware", "note: \(mixed.evaluatorNote ?? "none")")
        #expect(mixed.tasks.count == 4)
    }

    @Test func withoutABaseModelTheWeightSpaceEvaluatorScoresAndStatusSaysWhy() async throws {
        let fixture = try Self.fixture(baseModel: nil, evaluator: .auto)
        for (id, task, corpusTask) in Self.tasks {
            _ = try await fixture.service.installer.install(
                try CorpusFiles.installParams(id, task: task, corpusTask: corpusTask), fixture.context)
        }
        let status = try fixture.service.reads.status(fixture.context)
        #expect(status.evaluator == EvaluatorInfo(
            name: "weight-space", reason: "evaluator = auto; no base-model is set, so merges are scored in weight space"))
        #expect(status.served?.evaluator == "weight-space")
        #expect(fixture.service.replanner.sketches.madeCount == 0)
    }

    /// Tasks of another base model cannot be sketched with this one: the plan is made with
    /// weight-space scores and its note says which task and why.
    @Test func anAdapterOfAnotherBaseModelFallsBackToWeightSpaceWithTheReason() async throws {
        let fixture = try Self.fixture(budget: 200_000)
        for (id, task, corpusTask) in [Self.tasks[0], ("minilm-000-sentiment_product_reviews", "products", "sentiment_product_reviews"),
                                       ("minilm-017-sentiment_tweets", "minitweets", "sentiment_tweets")] {
            _ = try await fixture.service.installer.install(
                try CorpusFiles.installParams(id, task: task, corpusTask: corpusTask), fixture.context)
        }
        let served = try #require(try fixture.service.reads.status(fixture.context).served)
        #expect(served.kind == "clustered")
        #expect(served.evaluator == "weight-space")
        #expect(served.evaluatorNote?.contains("has no input sketch for base model") == true, "\(served.evaluatorNote ?? "none")")
    }
}
