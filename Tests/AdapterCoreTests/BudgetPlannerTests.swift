import Testing
@testable import AdapterCore

@Suite struct BudgetPlannerTests {
    /// A stand-in for the file size: a fixed header plus the tensors.
    static let sizer: BudgetPlanner.Sizer = { adapter, dtype in
        200 + adapter.modules.reduce(0) { $0 + $1.rank * ($1.inFeatures + $1.outFeatures) * dtype.byteSize }
    }
    static let modules = [BudgetPlanner.ModuleShape(name: "q", inFeatures: 10, outFeatures: 30),
                          BudgetPlanner.ModuleShape(name: "v", inFeatures: 10, outFeatures: 10)]
    static let config = PEFTConfig(baseModelNameOrPath: "synthetic/base", r: 1, loraAlpha: 1)
    static let planner = BudgetPlanner(modules: modules, baseConfig: config, sizer: sizer)

    static func tasks(_ count: Int, rank: Int = 4) throws -> [BudgetPlanner.TaskSize] {
        let bytes = try planner.mergedBytes(rank: rank)
        return (0..<count).map { BudgetPlanner.TaskSize(name: "t\($0)", ownBytes: bytes, rank: rank) }
    }

    @Test func everyOwnAdapterFitsUpToTheLastByte() throws {
        let tasks = try Self.tasks(5)
        let total = tasks.reduce(0) { $0 + $1.ownBytes }
        let decision = try Self.planner.decide(tasks: tasks, budget: total)
        #expect(decision.kind == .ownAdapters)
        #expect(decision.clusterCount == 5)
        #expect(decision.ownTotalBytes == total)

        let tighter = try Self.planner.decide(tasks: tasks, budget: total - 1)
        #expect(tighter.kind == .clustered)
        #expect(tighter.clusterCount == 4)
        #expect(tighter.mergedRank == 4)
    }

    @Test func clusterCountIsTheLargestThatFits() throws {
        let tasks = try Self.tasks(20)
        let merged = try Self.planner.mergedBytes(rank: 4)   // 200 + 4·(40 + 20)·2 = 680
        #expect(merged == 680)
        for budget in [merged, 3 * merged, 3 * merged + 679, 7 * merged + 1] {
            let decision = try Self.planner.decide(tasks: tasks, budget: budget)
            #expect(decision.clusterCount == budget / merged)
            #expect(decision.clusterCount * decision.mergedBytes <= budget)
            #expect((decision.clusterCount + 1) * decision.mergedBytes > budget)
        }
        // An explicit merged rank changes the arithmetic.
        let rank8 = try Self.planner.decide(tasks: tasks, budget: 10 * merged, mergedRank: 8)
        #expect(rank8.mergedRank == 8)
        #expect(rank8.clusterCount == 10 * merged / (200 + 8 * 60 * 2))
    }

    @Test func lowersTheRankWhenOneAdapterDoesNotFit() throws {
        let tasks = try Self.tasks(3, rank: 8)
        // Rank 8 needs 1160 bytes, rank 5 needs 800, rank 6 needs 920.
        let decision = try Self.planner.decide(tasks: tasks, budget: 900)
        #expect(decision.clusterCount == 1)
        #expect(decision.mergedRank == 5)
        #expect(decision.mergedBytes == 800)
    }

    @Test func refusesABudgetBelowOneMinimalAdapter() throws {
        let tasks = try Self.tasks(3)
        let minimal = try Self.planner.mergedBytes(rank: 1)   // 320
        #expect(try Self.planner.decide(tasks: tasks, budget: minimal).clusterCount == 1)
        #expect {
            try Self.planner.decide(tasks: tasks, budget: minimal - 1)
        } throws: { error in
            (error as? ClusteringError)?.code == .budgetTooSmall
                && "\(error)".contains("cannot hold even one merged adapter") && "\(error)".contains("rank 1")
        }
        let stricter = BudgetPlanner(modules: Self.modules, baseConfig: Self.config, minimumRank: 2, sizer: Self.sizer)
        #expect(throws: ClusteringError.self) { try stricter.decide(tasks: tasks, budget: minimal) }
        #expect(throws: ClusteringError.self) { try Self.planner.decide(tasks: [], budget: 1000) }
    }

    @Test func allocationKeepsSingletonsOnTheirOwnFileWithinTheBudget() throws {
        // Three tasks with small own files, one with a large (F32) one.
        let merged = try Self.planner.mergedBytes(rank: 4)
        let tasks = [BudgetPlanner.TaskSize(name: "a", ownBytes: 500, rank: 4),
                     BudgetPlanner.TaskSize(name: "b", ownBytes: 500, rank: 4),
                     BudgetPlanner.TaskSize(name: "c", ownBytes: 2000, rank: 4),
                     BudgetPlanner.TaskSize(name: "d", ownBytes: 900, rank: 4)]
        let decision = try Self.planner.decide(tasks: tasks, budget: 3 * merged)
        #expect(decision.clusterCount == 3)
        let serving = try Self.planner.allocate(clusters: [[0, 1], [2], [3]], tasks: tasks, decision: decision)
        // Neither c's own file (2000) nor d's (900) fits next to two merged adapters of 680 bytes in
        // 2040: both singletons are served by merged (re-encoded) copies.
        #expect(serving.map(\.usesOwnAdapter) == [false, false, false])
        #expect(serving.reduce(0) { $0 + $1.bytes } == 3 * merged)
        let roomier = try Self.planner.decide(tasks: tasks, budget: 3 * merged + 220)
        let upgraded = try Self.planner.allocate(clusters: [[0, 1], [2], [3]], tasks: tasks, decision: roomier)
        #expect(upgraded.map(\.usesOwnAdapter) == [false, false, true])
        #expect(upgraded.reduce(0) { $0 + $1.bytes } == 2 * merged + 900)
        #expect(upgraded.reduce(0) { $0 + $1.bytes } <= roomier.budget)
        // A singleton smaller than a merged adapter always keeps its own file.
        let small = try Self.planner.allocate(clusters: [[0], [1, 2], [3]], tasks: tasks, decision: decision)
        #expect(small.map(\.usesOwnAdapter) == [true, false, false])
        #expect(throws: ClusteringError.self) {
            try Self.planner.allocate(clusters: [[0], [1], [2], [3]], tasks: tasks, decision: decision)
        }
    }
}

extension BudgetPlannerTests {
    @Test func templateHasTheProfileAtTheRank() throws {
        let (tasks, _) = SyntheticTasks.families(families: 2, perFamily: 1, rank: 4, layers: 2, width: 24)
        let planner = try BudgetPlanner(tasks: tasks, sizer: Self.sizer)
        let template = planner.template(rank: 6)
        #expect(template.modules.map(\.name) == tasks[0].adapter.modules.map(\.name))
        #expect(template.modules.allSatisfy { $0.rank == 6 && $0.scale == 1 })
        #expect(template.config.r == 6 && template.config.baseModelNameOrPath == "synthetic/base")
        #expect(try planner.mergedBytes(rank: 6) == 200 + 4 * 6 * 48 * 2)
        #expect(throws: ClusteringError.self) { try planner.mergedBytes(rank: 0) }
    }
}

import Foundation

extension BudgetPlannerTests {
    /// With the default sizer, the predicted size of a merged adapter is the size of the files written.
    @Test func predictsTheWrittenSizeOfAMergedAdapter() throws {
        let (tasks, _) = SyntheticTasks.families(families: 2, perFamily: 3, rank: 4, layers: 2, width: 24)
        let planner = try BudgetPlanner(tasks: tasks)
        let merged = try SVDClusterMerger().merge(Array(tasks.prefix(3)).map(\.adapter), weights: [1, 1, 1].map { $0 / 3 }, rank: 6)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("adapterd-plan-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try PEFTAdapterWriter.write(merged, to: directory, dtype: .f16)
        let written = try FileManager.default.contentsOfDirectory(atPath: directory.path).reduce(0) { sum, name in
            sum + ((try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent(name).path)[.size] as? Int) ?? 0)
        }
        #expect(try planner.mergedBytes(rank: 6) == written)
        #expect(try planner.bytes(of: merged) == written)
        #expect(try planner.mergedBytes(rank: 7) > written)
    }
}
