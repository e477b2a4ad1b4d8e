/// A served set for a budget: which tasks share which adapter, its bytes, and the quality each task
/// keeps. Produced by `ClusterRefiner.plan`; nothing is written until the daemon materialises it.
public struct ClusterPlan: Sendable {
    /// One served adapter.
    public struct Cluster: Sendable {
        public let id: Int
        /// Names of the member tasks.
        public let members: [String]
        /// The merged adapter, or a singleton's own adapter.
        public let adapter: LoRAAdapter
        /// True when a singleton is served by its own adapter file as installed.
        public let usesOwnAdapter: Bool
        /// Largest module rank of the served adapter.
        public let rank: Int
        /// Bytes of the served file (own file, or the merged adapter written in the planner's dtype).
        public let bytes: Int
    }

    /// Where one task is served and what it keeps.
    public struct TaskOutcome: Sendable, Hashable {
        public let name: String
        public let cluster: Int
        /// score(serving adapter) / score(own adapter).
        public let quality: Double
    }

    public let decision: BudgetPlanner.Decision
    public let clusters: [Cluster]
    /// In the order of the tasks given.
    public let tasks: [TaskOutcome]
    public let evaluatorName: String
    public let mergerName: String
    public let rounds: Int
    /// Mean quality of the assignment scored in each round (index 0: the k-medoids start).
    public let roundMeanQuality: [Double]
    public let evaluations: Int

    public var totalBytes: Int { clusters.reduce(0) { $0 + $1.bytes } }
    public var meanQuality: Double {
        tasks.isEmpty ? 1 : tasks.reduce(0) { $0 + $1.quality } / Double(tasks.count)
    }
    /// The task that keeps least, if any.
    public var worst: TaskOutcome? { tasks.min { $0.quality < $1.quality } }
    public var worstQuality: Double { worst?.quality ?? 1 }
}

extension ClusterRefiner {
    /// Plans the served set of `tasks` under `budget` bytes: own adapters when they all fit,
    /// otherwise K clusters at the planner's merged rank, refined with the evaluator.
    public func plan(
        tasks: [TaskProfile], budget: Int, planner: BudgetPlanner, mergedRank: Int? = nil,
        options: Options = Options(), similarity: TaskSimilarity? = nil, progress: Progress? = nil
    ) async throws -> ClusterPlan {
        try AdapterProfileCheck.requireSameProfile(tasks.map(\.adapter), names: tasks.map(\.name))
        let sizes = tasks.map {
            BudgetPlanner.TaskSize(name: $0.name, ownBytes: $0.ownBytes,
                                   rank: $0.adapter.modules.map(\.rank).max() ?? 1)
        }
        let decision = try planner.decide(tasks: sizes, budget: budget, mergedRank: mergedRank)
        if decision.kind == .ownAdapters {
            progress?(1, "every task's own adapter fits the budget")
            let clusters = tasks.enumerated().map { i, task in
                ClusterPlan.Cluster(id: i, members: [task.name], adapter: task.adapter, usesOwnAdapter: true,
                                    rank: sizes[i].rank, bytes: task.ownBytes)
            }
            return ClusterPlan(
                decision: decision, clusters: clusters,
                tasks: tasks.enumerated().map { .init(name: $1.name, cluster: $0, quality: 1) },
                evaluatorName: evaluator.name, mergerName: merger.name, rounds: 0, roundMeanQuality: [1],
                evaluations: 0)
        }
        let result = try await refine(
            tasks: tasks, clusterCount: decision.clusterCount, mergedRank: decision.mergedRank,
            options: options, similarity: similarity, progress: progress)
        let serving = try planner.allocate(clusters: result.clusters, tasks: sizes, decision: decision)
        var clusters: [ClusterPlan.Cluster] = []
        for (c, members) in result.clusters.enumerated() {
            let own = serving[c].usesOwnAdapter
            var adapter = own ? tasks[members[0]].adapter : result.adapters[c]
            if !own && members.count == 1 {
                // A singleton re-encoded instead of served by its own file gets the merged adapters'
                // form (scale 1, lora_alpha = r): with its own alpha its config could be a few bytes
                // longer than the size the budget planner predicted.
                adapter = adapter.withScaleFoldedIntoB()
            }
            let rank = adapter.modules.map(\.rank).max() ?? 0
            let bytes = own ? serving[c].bytes : try planner.bytes(of: adapter)
            clusters.append(.init(id: c, members: members.map { tasks[$0].name }, adapter: adapter,
                                  usesOwnAdapter: own, rank: rank, bytes: bytes))
        }
        let total = clusters.reduce(0) { $0 + $1.bytes }
        guard total <= budget else {
            // Only a merger that ignores the target rank can get here.
            throw ClusteringError(.mergeFailed,
                "the merged adapters take \(BudgetPlanner.format(bytes: total)), over the budget of "
                + "\(BudgetPlanner.format(bytes: budget)); \(merger.name) did not keep rank \(decision.mergedRank)")
        }
        let outcomes = tasks.indices.map {
            ClusterPlan.TaskOutcome(name: tasks[$0].name, cluster: result.assignment[$0], quality: result.quality[$0])
        }
        return ClusterPlan(
            decision: decision, clusters: clusters, tasks: outcomes, evaluatorName: evaluator.name,
            mergerName: merger.name, rounds: result.rounds, roundMeanQuality: result.roundMeanQuality,
            evaluations: result.evaluations)
    }
}

extension LoRAAdapter {
    /// The same update ΔW with every module's scale folded into B (scale 1, lora_alpha = r, no
    /// rsLoRA or patterns): the form merged adapters are written in.
    func withScaleFoldedIntoB() -> LoRAAdapter {
        let modules = self.modules.map { m -> LoRAModule in
            guard m.scale != 1 else { return m }
            let b = m.b.scaled(m.scale)
            return LoRAModule(name: m.name, layer: m.layer, projection: m.projection, a: m.a, b: b, scale: 1)
        }
        var config = self.config
        let rank = modules.map(\.rank).max() ?? config.r
        config.r = rank
        config.loraAlpha = Double(rank)
        config.useRSLoRA = false
        config.rankPattern = [:]
        config.alphaPattern = [:]
        return LoRAAdapter(config: config, modules: modules, architecture: architecture, storageDType: storageDType,
                           tensorBytes: tensorBytes)
    }
}
