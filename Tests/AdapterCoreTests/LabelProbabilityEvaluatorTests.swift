import Foundation
import Synchronization
import Testing
@testable import AdapterCore

/// The built-in few-shot evaluator on corpus tasks: a trained adapter gives its task's right labels
/// more probability than the base model does, the probabilities are probabilities, and examples
/// with one label cannot be scored.
@Suite("Label probability evaluator")
struct LabelProbabilityEvaluatorTests {
    static func check(model directory: URL, id: String) async throws {
        let sketcher = try TaskInputSketcher(modelDirectory: directory)
        let adapter = try CorpusTasks.adapter(id)
        let task = TaskProfile(name: id, version: 1, adapter: adapter)
        let examples = try CorpusTasks.examples(CorpusTasks.task(of: id))
        let evaluator = LabelProbabilityEvaluator(sketcher: sketcher) { _ in examples }
        let own = try await evaluator.score(task: task, candidate: adapter)
        let base = try await evaluator.score(task: task, candidate: DataAwareFixtures.zeroCopy(adapter))
        #expect(own > 0 && own <= 1 && base > 0 && base <= 1)
        #expect(own > base + 0.1, "own \(own) vs base \(base)")
        // Half the update moves the probability part of the way.
        let half = try await evaluator.score(task: task, candidate: EvaluatorTests.scaledCopy(adapter, by: 0.5))
        #expect(half > base, "half \(half), base \(base)")
        // The own adapter's score, read with its prototypes, is what a forward pass with an equal
        // adapter decoded apart (not a copy) gives, to the bit.
        let reloaded = try CorpusTasks.adapter(id)
        #expect(!reloaded.isCopy(of: adapter))
        #expect(try await evaluator.score(task: task, candidate: reloaded) == own)
        // The head's own prompts read from their prepared batch give what reading them afresh gives.
        let head = try FewShotLabelHead(examples: examples, taskName: id, model: sketcher.model, encoding: sketcher.encoding)
        let factored = try FactoredLoRA(EvaluatorTests.scaledCopy(adapter, by: 0.5))
        let prototypes = try head.prototypes(adapter: try FactoredLoRA(adapter))
        let prepared = try head.preparedPrompts()
        if case .bert = sketcher.model { #expect(prepared != nil) } else { #expect(prepared == nil) }
        #expect(try head.logits(adapter: factored, prototypes: prototypes, prepared: prepared)
                == head.logits(head.prompts, adapter: factored, prototypes: prototypes))
        // Evaluators sharing references read a task's examples once, until it is dropped.
        let reads = Mutex(0)
        let references = LabelProbabilityEvaluator.References()
        func sharing() -> LabelProbabilityEvaluator {
            LabelProbabilityEvaluator(sketcher: sketcher, references: references) { _ in
                reads.withLock { $0 += 1 }
                return examples
            }
        }
        let halved = EvaluatorTests.scaledCopy(adapter, by: 0.5)
        #expect(try await sharing().score(task: task, candidate: halved) == half)
        #expect(try await sharing().score(task: task, candidate: adapter) == own)
        #expect(reads.withLock { $0 } == 1)
        references.keep(only: [(task.name, task.version + 1)])
        #expect(try await sharing().score(task: task, candidate: halved) == half)
        #expect(reads.withLock { $0 } == 2)
        // Whether a version's examples make a head is read once, until the version is dropped.
        let headReads = Mutex(0)
        func hasHead(_ examples: [TaskExample], version: Int = 1) -> Bool {
            references.hasHead(name: "head", version: version) {
                headReads.withLock { $0 += 1 }
                return examples
            }
        }
        #expect(hasHead(examples))
        #expect(hasHead([]))   // the answer kept for version 1, not read again
        #expect(!hasHead([], version: 2))
        #expect(headReads.withLock { $0 } == 2)
        references.keep(only: [("head", 2)])
        #expect(!hasHead([]))
        #expect(headReads.withLock { $0 } == 3)
        #expect(!references.hasHead(name: "unreadable", version: 1) { throw ScriptedFailure() })
        // One example's weight in the mean: what a merge must win by to replace truncate-only.
        #expect(evaluator.exampleWeight(for: task)
                == 1 / Double(min(examples.count, LabelProbabilityEvaluator.maximumExamples)))

        let oneLabel = LabelProbabilityEvaluator(sketcher: sketcher) { _ in
            examples.map { TaskExample(text: $0.text, label: examples[0].label) }
        }
        let single = TaskProfile(name: "single", version: 1, adapter: adapter)
        await #expect(throws: ClusteringError.self) { try await oneLabel.score(task: single, candidate: adapter) }
        #expect(oneLabel.exampleWeight(for: single) == 0)
        // Too many distinct labels (each candidate would cost examples × labels sequences): refused.
        let manyLabels = LabelProbabilityEvaluator(sketcher: sketcher) { _ in
            (0...LabelProbabilityEvaluator.maximumLabels).map { TaskExample(text: examples[0].text, label: "label\($0)") }
        }
        let many = TaskProfile(name: "many", version: 1, adapter: adapter)
        await #expect(throws: ClusteringError.self) { try await manyLabels.score(task: many, candidate: adapter) }
    }

    @Test func llamaTinyLabelsAfterThePrompt() async throws {
        try await Self.check(model: RuntimeFixtures.llamaTiny, id: "llama-003-sentiment_tweets")
    }

    @Test(.enabled(if: MiniLMFixtures.modelDirectory != nil, MiniLMFixtures.modelMissing))
    func miniLMPrototypesOfTheOwnAdapter() async throws {
        try await Self.check(model: try #require(MiniLMFixtures.modelDirectory), id: "minilm-017-sentiment_tweets")
    }
}
