/// A served set planned for tasks of every group under one byte budget by `JointBudgetPlanner`:
/// each group's clusters (a group's tasks may share merged adapters, tasks of different groups never
/// do), how the plan was chosen, and the truncate-only plan's score it was compared with. Nothing is
/// written until the daemon materialises it.
public struct JointPlan: Sendable {
    /// How the served set was chosen.
    public enum Policy: String, Sendable, Hashable {
        /// Every task's own adapter fits: each is served by it.
        case ownAdapters = "own-adapters"
        /// Clusters and ranks allocated across every group by marginal quality per byte.
        case joint
        /// No merging: each task's own adapter truncated to the rank the allocation gave it (or kept
        /// as installed); chosen when it scored better than the joint plan.
        case truncateOnly = "truncate-only"
    }

    /// One group's part of the plan.
    public struct Group: Sendable {
        /// Indices (into the tasks given to the planner) of the group's tasks, in `plan.tasks` order.
        public let indices: [Int]
        /// True when the group's adapters adapt different module sets and were padded to their union.
        public let padded: Bool
        public let plan: ClusterPlan
    }

    public let groups: [Group]
    public let policy: Policy
    public let evaluatorName: String
    /// The evaluator's mean retained quality of the truncate-only plan at this budget (nil when it does
    /// not fit, or every own adapter fits).
    public let truncateOnlyMeanQuality: Double?
    /// Evaluator calls made while planning.
    public let evaluations: Int

    public var totalBytes: Int { groups.reduce(0) { $0 + $1.plan.totalBytes } }
    public var taskCount: Int { groups.reduce(0) { $0 + $1.plan.tasks.count } }
    /// Mean retained quality over every task, by the evaluator.
    public var meanQuality: Double {
        let count = taskCount
        return count == 0 ? 1 : groups.reduce(0) { $0 + $1.plan.tasks.reduce(0) { $0 + $1.quality } } / Double(count)
    }
}
