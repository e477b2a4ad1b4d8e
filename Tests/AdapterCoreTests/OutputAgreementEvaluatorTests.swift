import Foundation
import Testing
@testable import AdapterCore

/// The built-in output-level evaluator on corpus tasks: the own adapter 1, an adapter that changes
/// nothing 0 (no closer than the base model), a merge of two tasks in between, for both families.
@Suite("Output agreement evaluator")
struct OutputAgreementEvaluatorTests {
    static func check(model directory: URL, ids: [String]) async throws {
        let sketcher = try TaskInputSketcher(modelDirectory: directory)
        let padded = try ModuleUnionPadding.pad(try ids.map(CorpusTasks.adapter), names: ids)
        let tasks = ids.indices.map { TaskProfile(name: ids[$0], version: 1, adapter: padded[$0]) }
        let examples = try Dictionary(uniqueKeysWithValues: ids.map { ($0, try CorpusTasks.examples(CorpusTasks.task(of: $0))) })
        let evaluator = OutputAgreementEvaluator(sketcher: sketcher) { task in
            guard let found = examples[task.name] else { throw ClusteringError(.evaluatorFailed, "no examples") }
            return found
        }
        let merged = try SVDClusterMerger().merge(tasks.map(\.adapter), weights: [0.5, 0.5], rank: 4)
        for task in tasks {
            #expect(try await evaluator.score(task: task, candidate: task.adapter) == 1)
            #expect(try await evaluator.score(task: task, candidate: DataAwareFixtures.zeroCopy(task.adapter)) == 0)
            let score = try await evaluator.score(task: task, candidate: merged)
            #expect(score > 0 && score < 1, "\(task.name): \(score)")
        }
        // A task it has no examples of is an evaluatorFailed error, never a guess.
        let stranger = TaskProfile(name: "stranger", version: 1, adapter: padded[0])
        await #expect(throws: ClusteringError.self) { try await evaluator.score(task: stranger, candidate: merged) }
    }

    @Test func llamaTinyNextTokenAgreement() async throws {
        try await Self.check(model: RuntimeFixtures.llamaTiny,
                             ids: ["llama-003-sentiment_tweets", "llama-014-sentiment_product_reviews"])
    }

    @Test(.enabled(if: MiniLMFixtures.modelDirectory != nil, MiniLMFixtures.modelMissing))
    func miniLMEmbeddingAgreement() async throws {
        try await Self.check(model: try #require(MiniLMFixtures.modelDirectory),
                             ids: ["minilm-000-sentiment_product_reviews", "minilm-017-sentiment_tweets"])
    }
}
