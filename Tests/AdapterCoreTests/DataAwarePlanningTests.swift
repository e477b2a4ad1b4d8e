import Foundation
import Testing
@testable import AdapterCore

/// The joint planner with the built-in data-aware evaluator and the per-cluster choice between the
/// SVD and the data-aware merge, on the corpus's ten benign llama-tiny tasks (module sets q+v and
/// q+k+v+o, ranks 4–16) with the input sketches the daemon would make at install.
@Suite("Planning with the data-aware evaluator and merge")
struct DataAwarePlanningTests {
    static let ids = ["llama-001-sentiment_movie_reviews", "llama-003-sentiment_tweets", "llama-005-topic_forum_posts",
                      "llama-007-intent_banking", "llama-009-intent_smart_home", "llama-011-formality_customer_letters",
                      "llama-013-toxicity_game_chat", "llama-014-sentiment_product_reviews",
                      "llama-016-sentiment_restaurant_reviews", "llama-018-topic_news_headlines"]

    @Test func neverExceedsTheBudgetAndNeverScoresBelowTruncateOnly() async throws {
        let sketcher = try TaskInputSketcher(modelDirectory: RuntimeFixtures.llamaTiny)
        var tasks: [TaskProfile] = []
        var sketches: [String: TaskInputSketch] = [:]
        for id in Self.ids {
            let adapter = try CorpusTasks.adapter(id)
            let bytes = try PEFTAdapterWriter.byteSize(adapter, dtype: adapter.storageDType)
            tasks.append(TaskProfile(name: id, version: 1, adapter: adapter, ownBytes: bytes))
            let sketch = try sketcher.sketch(CorpusTasks.examples(CorpusTasks.task(of: id)), options: .forTask(adapter))
            // Half the adapter's bytes for the maps it adapts, an eighth for every other map.
            #expect(sketch.byteSize <= adapter.tensorBytes / 2 + adapter.tensorBytes / 8)
            sketches[id] = sketch
        }
        let evaluator = DataAwareEvaluator(sketches: sketches)
        let planner = JointBudgetPlanner(evaluator: evaluator, merger: { tasks, dtype in
            try DataAwareMergeChoice(tasks: tasks, evaluator: evaluator, options: .init(weighting: .relative), storageDType: dtype)
        })
        let own = tasks.reduce(0) { $0 + $1.ownBytes }
        var merged = 0
        for divisor in [4, 16] {
            let budget = own / divisor
            let plan = try await planner.plan(tasks: tasks, budget: budget)
            #expect(plan.evaluatorName == "data-aware")
            // Planned bytes and the bytes the served files really take, both within the budget.
            #expect(plan.totalBytes <= budget, "1/\(divisor)")
            var written = 0
            for group in plan.groups {
                for cluster in group.plan.clusters {
                    written += cluster.usesOwnAdapter ? tasks[group.indices[group.plan.tasks.firstIndex { $0.name == cluster.members[0] }!]].ownBytes
                        : try PEFTAdapterWriter.byteSize(cluster.adapter, dtype: .f16)
                    if cluster.members.count > 1 { merged += 1 }
                }
            }
            #expect(written <= budget, "1/\(divisor): \(written) bytes written for \(budget)")
            #expect(plan.taskCount == tasks.count)
            // Each task's figure is its data-aware score with the adapter serving it.
            for group in plan.groups {
                for outcome in group.plan.tasks {
                    let cluster = try #require(group.plan.clusters.first { $0.id == outcome.cluster })
                    let task = try #require(tasks.first { $0.name == outcome.name })
                    let expected = cluster.usesOwnAdapter ? 1 : try evaluator.scoreNow(task: task, candidate: cluster.adapter)
                    #expect(abs(outcome.quality - expected) < 1e-9)
                }
            }
            if let truncated = plan.truncateOnlyMeanQuality { #expect(plan.meanQuality >= truncated - 1e-9) }
        }
        #expect(merged > 0, "no budget made the planner merge")
    }
}
