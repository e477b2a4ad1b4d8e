import Testing
@testable import AdapterCore

/// Both planners take a similarity computed by their caller; one check decides whether it may be used.
@Suite struct GivenSimilarityTests {
    static func tasks() throws -> (tasks: [TaskProfile], planner: BudgetPlanner, budget: Int) {
        let (made, _) = SyntheticTasks.families(families: 2, perFamily: 2, rank: 2, layers: 1, width: 6)
        let merged = try BudgetPlanner(tasks: made).mergedBytes(rank: 2)
        // Own files as large as a merged adapter: 4 of them do not fit a budget of 2 merged ones.
        let tasks = made.map { TaskProfile(name: $0.name, version: 1, adapter: $0.adapter, ownBytes: merged) }
        return (tasks, try BudgetPlanner(tasks: tasks), merged * 2)
    }

    @Test func aSimilarityOfOtherTasksIsRefusedByTheRefinerAndTheRankPlanner() async throws {
        let (tasks, planner, budget) = try Self.tasks()
        let reordered = Array(tasks.reversed())
        let other = try TaskSimilarity.compute(names: reordered.map(\.name), adapters: reordered.map(\.adapter))
        let fromRefiner = await #expect(throws: ClusteringError.self) {
            try await ClusterRefiner().refine(tasks: tasks, clusterCount: 2, mergedRank: 2, similarity: other)
        }
        let fromPlanner = await #expect(throws: ClusteringError.self) {
            try await RankAllocatingPlanner().plan(tasks: tasks, budget: budget, planner: planner, similarity: other)
        }
        for error in [fromRefiner, fromPlanner] {
            #expect(error?.code == .invalidArgument && error?.message == "the similarity matrix is for other tasks")
        }
    }

    @Test func aGivenSimilarityGivesTheSamePlanAsOneComputedByThePlanner() async throws {
        let (tasks, planner, budget) = try Self.tasks()
        let similarity = try TaskSimilarity.compute(names: tasks.map(\.name), adapters: tasks.map(\.adapter))
        let given = try await RankAllocatingPlanner().plan(tasks: tasks, budget: budget, planner: planner,
                                                           similarity: similarity)
        let computed = try await RankAllocatingPlanner().plan(tasks: tasks, budget: budget, planner: planner)
        #expect(given.clusters.map(\.members) == computed.clusters.map(\.members))
        #expect(given.clusters.count == 2)
        let refined = try await ClusterRefiner().refine(tasks: tasks, clusterCount: 2, mergedRank: 2,
                                                        similarity: similarity)
        #expect(refined.assignment == (try await ClusterRefiner().refine(tasks: tasks, clusterCount: 2,
                                                                          mergedRank: 2).assignment))
    }
}
