@testable import AdapterDaemon
import AdapterCore
import AdapterProtocol
import AdapterStore
import Foundation
import Logging
import Testing

/// One budget for tasks of one base model that adapt different module sets (issue 18), through the
/// daemon: two q+v and two q+k+v+o llama-tiny adapters under a budget that holds neither all of them
/// nor each alone at its own rank. Whatever the plan joins or keeps apart, the served set fits the
/// budget and every task is served by an adapter that adapts every module its own adapter adapts.
@Suite("Mixed module sets through the daemon", .serialized)
struct MixedModuleSetPlanningTests {
    static let tasks = [("llama-003-sentiment_tweets", "tweets", "sentiment_tweets"),
                        ("llama-005-topic_forum_posts", "forums", "topic_forum_posts"),
                        ("llama-009-intent_smart_home", "home", "intent_smart_home"),
                        ("llama-011-formality_customer_letters", "letters", "formality_customer_letters")]
    /// 12 KB: less than the four adapters truncated to rank 1 (about 16 KB), so the plan merges;
    /// 7 KB: less than one merged adapter per module set, so one adapter padded to q+k+v+o serves all.
    /// Without a base model; with llama-tiny, `auto` (label probabilities) and `data-aware`.
    static let evaluators: [(baseModel: String?, evaluator: EvaluatorKind)] =
        [(nil, .auto), (CorpusFiles.llamaTiny, .auto), (CorpusFiles.llamaTiny, .dataAware)]

    @Test(arguments: evaluators.indices, [Int64(12_000), 7_000])
    func oneBudgetServesEveryModuleOfEveryTask(evaluatorIndex: Int, budget: Int64) async throws {
        let (baseModel, evaluator) = Self.evaluators[evaluatorIndex]
        let fixture = try AdapterServiceTests.Fixture(settings: {
            $0.baseModel = baseModel
            $0.evaluator = evaluator
        }, budgetOverride: .bytes(budget))
        for (id, task, corpusTask) in Self.tasks {
            _ = try await fixture.service.installer.install(
                try CorpusFiles.installParams(id, task: task, corpusTask: corpusTask), fixture.context)
        }
        let status = try fixture.service.reads.status(fixture.context)
        let served = try #require(status.served)
        #expect(served.kind == "clustered")
        #expect(status.budget.servedBytes <= budget)
        if budget == 7_000 { #expect(served.clusters.count == 1) }
        #expect(served.tasks.count == Self.tasks.count)
        for (id, task, _) in Self.tasks {
            let route = try fixture.service.reads.routeTask(task)
            let own = Set(try CorpusFiles.load(id).modules.map(\.name))
            let directory = try #require(route.adapter.directory)
            let servedAdapter = try PEFTAdapterLoader.load(directory: URL(fileURLWithPath: directory))
            let modules = Set(servedAdapter.modules.map(\.name))
            #expect(own.isSubset(of: modules), "\(task): served by \(modules.sorted()), adapts \(own.sorted())")
            // At most 1 by weight-space or data-aware; by label probability a merge may beat the own adapter.
            #expect(route.retainedQuality.map { $0 >= 0 && (evaluator == .auto && baseModel != nil || $0 <= 1) } ?? false)
        }
        // The plan's evaluator: weight-space without a base model; with it, `auto` runs the model with
        // each candidate (any module set) on the labelled examples; data-aware, or (when a merge joins
        // module sets a sketch did not record) weight-space with the reason in the note.
        if baseModel == nil {
            #expect(served.evaluator == "weight-space")
        } else if evaluator == .auto {
            #expect(served.evaluator == "label-probability", "note: \(served.evaluatorNote ?? "none")")
            #expect(served.evaluatorNote == nil)
        } else if served.evaluator != "data-aware" {
            #expect(served.evaluator == "weight-space")
            #expect(served.evaluatorNote?.contains("data-aware failed") == true, "\(served.evaluatorNote ?? "none")")
        }
    }
}
