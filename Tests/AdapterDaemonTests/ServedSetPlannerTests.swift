@testable import AdapterDaemon
import AdapterProtocol
import AdapterCore
import AdapterStore
import Foundation
import Testing

@Suite("Served-set planner", .serialized)
struct ServedSetPlannerTests {
    /// The previous policy's split (now only a baseline for tests and the quality bench).
    @Test func fixedSharesGiveEachProfileOneMergedAdapterFirst() {
        let shares = JointBudgetPlanner.fixedShares(budget: 100, own: [80, 60], minimum: [20, 10])
        #expect(shares == [58, 41])
        #expect(shares.reduce(0, +) <= 100)
        // A profile that fits gets no more than its own adapters need.
        #expect(JointBudgetPlanner.fixedShares(budget: 100, own: [15, 200], minimum: [15, 30]) == [15, 85])
        // Too little for the minimums: proportional to them (the budget planner then lowers ranks or refuses).
        #expect(JointBudgetPlanner.fixedShares(budget: 15, own: [80, 60], minimum: [20, 10]) == [10, 5])
    }

    /// Tasks of two base-model profiles under one budget: each profile is clustered on its own, no
    /// served adapter mixes profiles, every task is routed, and the served set fits the budget.
    @Test func twoProfilesAreClusteredSeparatelyUnderOneBudget() async throws {
        let fixture = try AdapterServiceTests.Fixture(budgetOverride: .bytes(60_000))
        let installs = [("llama_gqa_f16", "llama-a"), ("llama_gqa_task_b", "llama-b"), ("llama_gqa_task_c", "llama-c"),
                        ("bert_f32", "bert-a"), ("bert_f32", "bert-b")]
        for (name, task) in installs {
            _ = try await fixture.service.installer.install(try fixture.params(name, task: task), fixture.context)
        }
        let served = try #require(try fixture.service.reads.status(fixture.context).served)
        #expect(served.kind == "clustered")
        #expect(served.tasks.map(\.task).sorted() == installs.map(\.1).sorted())
        #expect(served.clusters.reduce(0) { $0 + $1.bytes } <= 60_000)
        for cluster in served.clusters {
            let profiles = try Set(cluster.tasks.map { try #require(try fixture.store.task(named: $0)).adapter.profileHash })
            #expect(profiles.count == 1, "cluster \(cluster.id ?? -1) mixes profiles: \(cluster.tasks)")
        }
        // Two tasks with the same adapter lose nothing when they share a merge.
        let bert = try fixture.service.reads.route(RouteParams(task: "bert-a"))
        if bert.adapter.tasks.contains("bert-b") {
            #expect(try #require(bert.retainedQuality) > 0.99)
        }
        for (_, task) in installs {
            #expect(try fixture.service.reads.route(RouteParams(task: task)).generation == served.generation)
        }
    }

    /// Own adapters when they fit: nothing is loaded or merged, every task is served by its own file.
    @Test func underTheBudgetEveryTaskIsServedByItsOwnAdapter() async throws {
        let fixture = try AdapterServiceTests.Fixture(budgetOverride: .bytes(1_000_000))
        for (name, task) in [("llama_gqa_f16", "a"), ("bert_f32", "b")] {
            _ = try await fixture.service.installer.install(try fixture.params(name, task: task), fixture.context)
        }
        let plan = try await fixture.service.replanner.recluster(ReclusterParams(dryRun: true), fixture.context)
        #expect(plan.kind == "own")
        #expect(plan.clusterCount == 2)
        #expect(plan.evaluations == 0)
        #expect(plan.tasks.allSatisfy { $0.retainedQuality == 1 })
        for task in ["a", "b"] {
            let route = try fixture.service.reads.route(RouteParams(task: task))
            #expect(route.adapter.kind == "own")
            #expect(route.adapter.sha256 == (try fixture.store.task(named: task))?.adapter.weightsDigest.hex)
        }
    }
}

extension ServedSetPlannerTests {
    /// `merged-dtype` decides the dtype (and so the size) of merged adapters.
    @Test func mergedAdaptersAreWrittenInTheConfiguredDType() async throws {
        let fixture = try AdapterServiceTests.Fixture(settings: { $0.mergedDType = .f32 }, budgetOverride: .bytes(60_000))
        for (name, task) in [("llama_gqa_f16", "a"), ("llama_gqa_task_b", "b"), ("llama_gqa_task_c", "c")] {
            _ = try await fixture.service.installer.install(try fixture.params(name, task: task), fixture.context)
        }
        let served = try #require(try fixture.service.reads.status(fixture.context).served)
        let merged = try #require(served.clusters.first { $0.kind == "merged" })
        let exported = try await fixture.service.exporter.export(ExportParams(cluster: merged.id))
        let weights = try #require(Data(base64Encoded: exported.safetensors))
        let adapter = try PEFTAdapterLoader.load(configJSON: Data(exported.config.utf8), safetensors: weights)
        #expect(adapter.storageDType == .f32)
        #expect(served.clusters.reduce(0) { $0 + $1.bytes } <= 60_000)
    }
}

extension ServedSetPlannerTests {
    /// Status says which evaluator produced each task's retained quality, and a plan says how it was
    /// chosen and the truncate-only score it was compared with.
    @Test func eachTasksRetainedQualitySaysWhichEvaluatorProducedIt() async throws {
        let fixture = try AdapterServiceTests.Fixture(budgetOverride: .bytes(60_000))
        for (name, task) in [("llama_gqa_f16", "a"), ("llama_gqa_task_b", "b"), ("llama_gqa_task_c", "c"), ("bert_f32", "d")] {
            _ = try await fixture.service.installer.install(try fixture.params(name, task: task), fixture.context)
        }
        let served = try #require(try fixture.service.reads.status(fixture.context).served)
        #expect(served.tasks.count == 4)
        for task in served.tasks {
            let cluster = served.clusters[task.cluster]
            #expect(task.evaluator == (cluster.kind == "own" ? "own-adapters" : "weight-space"), "\(task)")
        }
        let plan = try await fixture.service.replanner.recluster(ReclusterParams(dryRun: true), fixture.context)
        #expect(["joint", "truncate-only"].contains(plan.policy ?? ""))
        #expect(plan.tasks.allSatisfy { $0.evaluator != nil })
        if let truncated = plan.truncateOnlyMeanRetainedQuality {
            #expect(plan.meanRetainedQuality >= truncated - 1e-9)
        }
    }
}
