/// Merges a cluster with each of several mergers (by default the SVD merge and the data-aware
/// `DataAwareClusterMerger`) and serves the merge whose members keep the most on their own examples:
/// the highest mean `DataAwareScore` over the members (ties: the earlier merger). So a planner can
/// pick the merge method per cluster by the built-in data-aware score; `choose` also says which won.
public struct DataAwareMergeChoice: ClusterMerging {
    /// One cluster's outcome.
    public struct Choice: Sendable {
        /// The index of the winning merger in `mergers`.
        public let index: Int
        public let adapter: LoRAAdapter
        /// Every merger's mean data-aware score over the members, in `mergers` order.
        public let meanScores: [Double]
    }

    public let mergers: [any ClusterMerging]
    let members: SketchedMembers

    public var name: String { "best of " + mergers.map(\.name).joined(separator: ", ") + " by data-aware score" }

    /// `mergers`: nil for [SVD, data-aware with `options`], both writing `storageDType`.
    public init(tasks: [TaskProfile], sketch: (TaskProfile) throws -> TaskInputSketch,
                mergers: [any ClusterMerging]? = nil, options: RegMeanMerge.Options = RegMeanMerge.Options(),
                storageDType: DType = .f16) throws {
        try self.init(members: try SketchedMembers(tasks: tasks, sketch: sketch), mergers: mergers, options: options,
                      storageDType: storageDType)
    }

    /// With the references `evaluator` prepared (and prepares) for its scores: a planner that scores
    /// with it and merges with this choice prepares each task once.
    public init(tasks: [TaskProfile], evaluator: DataAwareEvaluator, mergers: [any ClusterMerging]? = nil,
                options: RegMeanMerge.Options = RegMeanMerge.Options(), storageDType: DType = .f16) throws {
        try self.init(members: try SketchedMembers(tasks: tasks, reference: evaluator.reference(for:)), mergers: mergers,
                      options: options, storageDType: storageDType)
    }

    private init(members: SketchedMembers, mergers: [any ClusterMerging]?, options: RegMeanMerge.Options,
                 storageDType: DType) throws {
        self.members = members
        if let mergers {
            guard !mergers.isEmpty else { throw ClusteringError(.invalidArgument, "no mergers to choose from") }
            self.mergers = mergers
        } else {
            self.mergers = [SVDClusterMerger(storageDType: storageDType),
                            DataAwareClusterMerger(members: members, options: options, storageDType: storageDType)]
        }
    }

    /// Sketches by task name.
    public init(tasks: [TaskProfile], sketches: [String: TaskInputSketch], mergers: [any ClusterMerging]? = nil,
                options: RegMeanMerge.Options = RegMeanMerge.Options(), storageDType: DType = .f16) throws {
        try self.init(tasks: tasks, sketch: SketchedMembers.byName(sketches), mergers: mergers, options: options,
                      storageDType: storageDType)
    }

    public func merge(_ adapters: [LoRAAdapter], weights: [Double], rank: Int) throws -> LoRAAdapter {
        try choose(adapters, weights: weights, rank: rank).adapter
    }

    /// Every merger's merge and its members' mean data-aware score; the best one.
    public func choose(_ adapters: [LoRAAdapter], weights: [Double], rank: Int) throws -> Choice {
        let references = try members.members(of: adapters).map(\.reference)
        var best: (index: Int, adapter: LoRAAdapter, score: Double)?
        var means: [Double] = []
        for (index, merger) in mergers.enumerated() {
            let merged = try merger.merge(adapters, weights: weights, rank: rank)
            let mean = try references.reduce(0) { $0 + (try $1.breakdown(merged).score) } / Double(references.count)
            means.append(mean)
            if best == nil || mean > best!.score { best = (index, merged, mean) }
        }
        return Choice(index: best!.index, adapter: best!.adapter, meanScores: means)
    }
}
