/// Places one newly installed task into the served set in force, leaving every other served adapter
/// as it is, so that an install answers in the time of one merge rather than of a plan of every task
/// (`JointBudgetPlanner`, which the caller runs later, once for many installs).
///
/// The options, each only when its bytes fit the budget beside the served adapters it leaves alone:
/// 1. the task's own file, alone (it keeps everything, no other task changes: taken at once);
/// 2. the task alone, truncated to the largest rank the free bytes hold;
/// 3. the task merged into one of the `nearest` served clusters whose update is closest to its own
///    (cosine of the factored updates), at the largest rank the cluster's bytes and the free bytes hold.
/// The option that adds most retained quality, by the evaluator, over the tasks it touches wins (the
/// new task's quality plus what a joined cluster's members gain or lose); nil when none fits.
public struct InstallPlacement: Sendable {
    public let evaluator: any Evaluator
    public let storageDType: DType
    /// Exact bytes of a written adapter (tests pass a stand-in).
    public let sizer: BudgetPlanner.Sizer
    public let weighting: MergeWeighting
    /// Served clusters tried as homes for the task, nearest first.
    public let nearest: Int
    public let makeMerger: RankAllocatingPlanner.MergerFactory

    public init(evaluator: any Evaluator = WeightSpaceEvaluator(), storageDType: DType = .f16,
                sizer: @escaping BudgetPlanner.Sizer = BudgetPlanner.peftDirectorySize, weighting: MergeWeighting = .uniform,
                nearest: Int = 2, merger: @escaping RankAllocatingPlanner.MergerFactory = RankAllocatingPlanner.svdMerger) {
        self.evaluator = evaluator
        self.storageDType = storageDType
        self.sizer = sizer
        self.weighting = weighting
        self.nearest = max(0, nearest)
        self.makeMerger = merger
    }

    /// One adapter of the served set in force, with what it costs and what its tasks keep now. Its
    /// adapters are loaded only when it is considered.
    public struct ServedCluster: Sendable {
        public let members: [String]
        public let bytes: Int
        /// Each member's retained quality now, by name.
        public let quality: [String: Double]
        /// The served adapter (to measure how near the new task is).
        public let served: @Sendable () throws -> LoRAAdapter
        /// The members' own adapters (to merge the new task with them and score them).
        public let profiles: @Sendable () throws -> [TaskProfile]

        public init(members: [String], bytes: Int, quality: [String: Double],
                    served: @escaping @Sendable () throws -> LoRAAdapter,
                    profiles: @escaping @Sendable () throws -> [TaskProfile]) {
            self.members = members
            self.bytes = bytes
            self.quality = quality
            self.served = served
            self.profiles = profiles
        }
    }

    /// Where the task goes.
    public enum Home: Sendable {
        /// Served by its own file.
        case ownFile
        /// Alone, re-encoded at a lower rank.
        case alone(adapter: LoRAAdapter, rank: Int, bytes: Int)
        /// Merged with the members of `clusters[cluster]`: the adapter replaces that cluster's.
        case joined(cluster: Int, adapter: LoRAAdapter, rank: Int, bytes: Int)
    }

    /// The placement chosen.
    public struct Placement: Sendable {
        public let home: Home
        /// New retained quality of the task and, when it joined a cluster, of that cluster's members.
        public let quality: [String: Double]
        /// Σ retained quality added over the tasks it touches.
        public let gain: Double
        public let evaluations: Int
        /// The options scored, for the log: "alone at rank 4: +0.71", …
        public let considered: [String]
    }

    /// The best placement of `task` beside `clusters` under `budget` bytes; nil when no option fits
    /// (the caller then plans every task). `grams`: Gram blocks kept from earlier placements (a joined
    /// cluster's members'), read and kept for later ones; nil: computed for this placement alone.
    public func place(_ task: TaskProfile, beside clusters: [ServedCluster], budget: Int,
                      grams shared: SharedGramBlocks? = nil) async throws -> Placement? {
        let used = clusters.reduce(0) { $0 + $1.bytes }
        let free = budget - used
        if task.ownBytes <= free {
            return Placement(home: .ownFile, quality: [task.name: 1], gain: 1, evaluations: 0,
                             considered: ["own file: fits the free \(BudgetPlanner.format(bytes: free))"])
        }
        // The task's factors are read by every step below (its norm, the nearest clusters, each join's
        // Gram blocks, the merge): decoded once for the placement, not at each read.
        let task = task.decodingFactors()
        var evaluations = 0
        var best: Option?
        var considered: [String] = []
        func consider(_ option: Option, _ line: String) {
            considered.append(line + ": \(option.gain >= 0 ? "+" : "")\(Self.format(option.gain))")
            if best == nil || option.gain > best!.gain + 1e-12 { best = option }
        }
        let merger = try makeMerger([task], storageDType)
        // The task's own score, the reference of its quality in every option, asked for with the score
        // of the task alone at a lower rank.
        let alone = try largestRank(for: [task], maximum: Self.rank(of: task), within: free).map { rank, bytes in
            (rank: rank, bytes: bytes, adapter: try merge([task], weights: [1], rank: rank, merger: merger))
        }
        let scores = try await evaluator.checkedScores([(task, task.adapter)] + (alone.map { [(task, $0.adapter)] } ?? []),
                                                       concurrency: 1)
        evaluations += scores.count
        let taskOwn = scores[0]
        if let alone {
            let quality = scores[1] / taskOwn
            consider(Option(quality: [task.name: quality], gain: quality, rank: alone.rank,
                            home: { .alone(adapter: alone.adapter, rank: alone.rank, bytes: alone.bytes) }),
                     "alone at rank \(alone.rank)")
        }
        for c in try nearestClusters(to: task, in: clusters) {
            try Task.checkCancellation()
            guard let option = try await join(task, own: taskOwn, cluster: clusters[c], index: c, free: free,
                                              merger: merger, shared: shared, evaluations: &evaluations) else { continue }
            consider(option, "with \(clusters[c].members.joined(separator: ", ")) at rank \(option.rank)")
        }
        guard let best else { return nil }
        return Placement(home: try best.home(), quality: best.quality, gain: best.gain, evaluations: evaluations,
                         considered: considered)
    }

    /// One way of placing the task, scored. `home` forms it: a join scored from its rank curve is
    /// merged only if it is the option chosen.
    private struct Option {
        let quality: [String: Double]
        let gain: Double
        let rank: Int
        let home: () throws -> Home
    }

    /// The task (whose own score is `own`) merged into `cluster` at the largest rank its bytes and the
    /// free bytes hold, scored; nil when the members' profile differs from the task's or even rank 1
    /// does not fit.
    private func join(_ task: TaskProfile, own taskOwn: Double, cluster: ServedCluster, index c: Int, free: Int,
                      merger: any ClusterMerging, shared: SharedGramBlocks?, evaluations: inout Int) async throws -> Option? {
        let members = try cluster.profiles() + [task]
        guard AdapterProfileCheck.sameProfile(members.map(\.adapter)) else { return nil }
        let maximum = members.map(Self.rank).max() ?? 1
        guard let (rank, bytes) = try largestRank(for: members, maximum: maximum, within: cluster.bytes + free) else {
            return nil
        }
        let weights = try mergeWeights(members)
        var quality: [String: Double] = [:]
        var gain = 0.0
        if let scored = try curveScores(members, weights: weights, rank: rank, merger: merger, shared: shared) {
            for (member, kept) in zip(members, scored.scores) {
                quality[member.name] = kept
                gain += kept - (cluster.quality[member.name] ?? 0)
            }
            let merge = { try self.merge(members, weights: weights, rank: rank, scored: scored) }
            return Option(quality: quality, gain: gain, rank: rank,
                          home: { .joined(cluster: c, adapter: try merge(), rank: rank, bytes: bytes) })
        }
        let adapter = try merge(members, weights: weights, rank: rank, merger: merger)
        try Task.checkCancellation()
        // Every member's score with the merge and, but for the task's, with its own adapter, together.
        let others = members.filter { $0.name != task.name }
        let scores = try await evaluator.checkedScores(members.map { ($0, adapter) } + others.map { ($0, $0.adapter) },
                                                       concurrency: 1)
        evaluations += scores.count
        let own = Dictionary(zip(others.map(\.name), scores[members.count...]), uniquingKeysWith: { first, _ in first })
        for (member, score) in zip(members, scores) {
            let kept = score / (own[member.name] ?? taskOwn)
            quality[member.name] = kept
            gain += kept - (cluster.quality[member.name] ?? 0)
        }
        return Option(quality: quality, gain: gain, rank: rank,
                      home: { .joined(cluster: c, adapter: adapter, rank: rank, bytes: bytes) })
    }

    /// A join scored from its rank curve, with what its merge is written from if it is chosen.
    private struct CurveScores {
        let scores: [Double]
        let merger: SVDClusterMerger
        let grams: FactorGrams
        /// Each module's truncation factors, from the curve's eigenpairs.
        let truncations: [TruncationFactors?]
    }

    /// The members' weight-space scores of their SVD merge at `rank`, read from its rank curve
    /// (`RankQualityCurve` on the members' `FactorGrams`: Gram blocks, no merged factors), which is what
    /// `WeightSpaceEvaluator` gives the merge, with the Grams and the truncation factors of the curve's
    /// eigenpairs (the merge, if chosen, is written from them); nil when the evaluator or the merger is
    /// another, or the members' modules do not line up.
    private func curveScores(_ members: [TaskProfile], weights: [Double], rank: Int, merger: any ClusterMerging,
                             shared: SharedGramBlocks?) throws -> CurveScores? {
        let adapters = members.map(\.adapter)
        guard RankQualityCurve.scores(of: evaluator, merger: merger), let svd = merger as? SVDClusterMerger,
              let grams = FactorGrams(adapters: adapters, shared: shared) else {
            return nil
        }
        try Task.checkCancellation()
        guard let (curve, truncations) = try RankQualityCurve.computeKeepingTruncations(
            members: Array(members.indices), adapters: adapters, weights: weights, maximumRank: rank, grams: grams)
        else { return nil }
        return CurveScores(scores: curve.quality(rank: rank), merger: svd, grams: grams, truncations: truncations)
    }

    /// Indices of the `nearest` clusters whose served update is closest to the task's (cosine), of
    /// the clusters whose served adapter shares its profile.
    func nearestClusters(to task: TaskProfile, in clusters: [ServedCluster]) throws -> [Int] {
        guard nearest > 0 else { return [] }
        let taskNorm = FactoredUpdates.normSquared(task.adapter)   // once, not once per cluster
        // Each served adapter read and compared on its own thread.
        let cosines = try ParallelLoop.map(clusters.count, minimumPerThread: 1) { c -> (index: Int, cosine: Double)? in
            let served = try clusters[c].served()
            guard AdapterProfileCheck.sameProfile([task.adapter, served]) else { return nil }
            let inner = FactoredUpdates.inner(task.adapter, served)
            let pair = TaskSimilarity(names: ["task", "served"],
                                      inner: [taskNorm, inner, inner, FactoredUpdates.normSquared(served)])
            return (c, pair.cosine(0, 1))
        }.compactMap { $0 }
        return cosines.sorted { $0.cosine > $1.cosine || ($0.cosine == $1.cosine && $0.index < $1.index) }
            .prefix(nearest).map(\.index)
    }

    /// The largest rank ≤ `maximum` whose merged adapter of these tasks' profile fits `bytes`, and its size.
    func largestRank(for tasks: [TaskProfile], maximum: Int, within bytes: Int) throws -> (rank: Int, bytes: Int)? {
        let planner = try BudgetPlanner(tasks: tasks, dtype: storageDType, sizer: sizer)
        guard maximum >= 1, try planner.mergedBytes(rank: 1) <= bytes else { return nil }
        var (low, high) = (1, maximum)   // mergedBytes(low) fits; the answer is in low…high
        while low < high {
            let middle = (low + high + 1) / 2
            if try planner.mergedBytes(rank: middle) <= bytes { low = middle } else { high = middle - 1 }
        }
        return (low, try planner.mergedBytes(rank: low))
    }

    /// The members' merge weights under `weighting`.
    private func mergeWeights(_ tasks: [TaskProfile]) throws -> [Double] {
        if tasks.count == 1 { return [1] }
        if weighting == .inverseSquaredNorm {
            let similarity = try TaskSimilarity.compute(names: tasks.map(\.name), adapters: tasks.map(\.adapter))
            return weighting.weights(norms: tasks.indices.map { similarity.norm($0) })
        }
        return weighting.weights(norms: tasks.map { _ in 1 })
    }

    private func merge(_ tasks: [TaskProfile], weights: [Double], rank: Int, merger: any ClusterMerging) throws -> LoRAAdapter {
        try ClusteringError.reportingMergeFailure(Self.describeMerge(tasks, rank: rank)) {
            try merger.merge(tasks.map(\.adapter), weights: weights, rank: rank, grams: nil, members: Array(tasks.indices))
        }
    }

    /// The merge a rank curve scored, written from the truncation factors of that curve's eigenpairs.
    private func merge(_ tasks: [TaskProfile], weights: [Double], rank: Int, scored: CurveScores) throws -> LoRAAdapter {
        try ClusteringError.reportingMergeFailure(Self.describeMerge(tasks, rank: rank)) {
            try scored.merger.merge(tasks.map(\.adapter), weights: weights, rank: rank, grams: scored.grams,
                                    members: Array(tasks.indices), truncations: scored.truncations)
        }
    }

    private static func describeMerge(_ tasks: [TaskProfile], rank: Int) -> String {
        "merging \(tasks.map { "'\($0.name)'" }.joined(separator: ", ")) at rank \(rank)"
    }

    private static func rank(of task: TaskProfile) -> Int { max(1, task.adapter.modules.map(\.rank).max() ?? 1) }

    private static func format(_ x: Double) -> String { String(format: "%.3f", x) }
}

extension InstallPlacement.Home {
    /// Rank of the adapter the task is served by (0 for its own file).
    public var rank: Int {
        switch self {
        case .ownFile: return 0
        case .alone(_, let rank, _), .joined(_, _, let rank, _): return rank
        }
    }
}
