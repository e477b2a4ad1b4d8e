import Synchronization

/// Plans a served set in which every cluster (merged, or a task alone) gets its own rank.
///
/// One merged rank for every cluster wastes bytes: tasks whose updates survive truncation to rank 1
/// get as much rank as those that need all of theirs. This planner, for every cluster count K that the
/// budget allows (K clusters at rank 1 must fit):
/// 1. clusters the tasks by k-medoids on the cosine distance (as the refiner starts);
/// 2. computes each cluster's `RankQualityCurve` (weight-space quality of every member at every rank,
///    from one factored SVD merge);
/// 3. gives each cluster its rank with `RankAllocation` (greedy: most quality per added byte) under
///    the budget, a singleton may also keep its own file;
/// and keeps the K whose allocation has the highest mean weight-space quality. With another evaluator
/// (few-shot, external), the `evaluatedPlans` best candidates by weight-space quality are scored with
/// it (≈ N per candidate plus N for the own adapters) and the best by its mean quality is served.
/// The chosen plan's assignment is then refined as D2C does (`ClusterRefiner`, with the same
/// evaluator: tasks move to the cluster whose merge with them serves them best, until stable) and its
/// ranks allocated again; the refined plan is served when it scores better.
/// Deterministic: seeded k-medoids, ties to the smaller K.
public struct RankAllocatingPlanner: Sendable {
    /// Knobs of the planner.
    public struct Options: Sendable, Hashable {
        public var seed: UInt64
        /// k-medoids restarts.
        public var restarts: Int
        public var weighting: MergeWeighting
        /// The highest rank a merged adapter may get (nil: the largest own rank of the tasks).
        public var maximumRank: Int?
        /// At most this many cluster counts are tried, spread evenly over 1 … K_max.
        public var maximumClusterCounts: Int
        /// Up to this many counts are all tried; with more (large N), the search over K is coarse to
        /// fine: `coarseClusterCounts` of them first (spread evenly), then every count between the best
        /// one's two neighbours. Planning costs about Σ K merges over the counts tried.
        public var exhaustiveClusterCounts: Int
        public var coarseClusterCounts: Int
        /// Candidate plans (the best by weight-space quality, one per K) scored with an evaluator other
        /// than the weight-space one; the best by its scores is served.
        public var evaluatedPlans: Int
        /// With an evaluator other than the weight-space one: re-allocate the ranks of the chosen
        /// clusters by its scores at ranks 1, 2, 4, … (≈ N·log₂(rank) more evaluations), and serve that
        /// allocation if it scores better.
        public var ranksByScores: Bool
        /// Rounds of the D2C-style refinement of the chosen plan's assignment (`ClusterRefiner`: each
        /// task scored in its own cluster and in its c − 1 most similar others merged with it, moved to
        /// the best, until stable); 0 keeps the k-medoids assignment.
        public var refinementRounds: Int
        /// c of the refinement: clusters scored per task and round, its own included.
        public var candidateClusters: Int

        public init(seed: UInt64 = 0, restarts: Int = 4, weighting: MergeWeighting = .uniform,
                    maximumRank: Int? = nil, maximumClusterCounts: Int = 24, exhaustiveClusterCounts: Int = 16,
                    coarseClusterCounts: Int = 8,
                    evaluatedPlans: Int = 3,
                    ranksByScores: Bool = true, refinementRounds: Int = 8, candidateClusters: Int = 3) {
            self.ranksByScores = ranksByScores
            self.refinementRounds = refinementRounds
            self.candidateClusters = candidateClusters
            self.seed = seed
            self.restarts = restarts
            self.weighting = weighting
            self.maximumRank = maximumRank
            self.maximumClusterCounts = maximumClusterCounts
            self.coarseClusterCounts = coarseClusterCounts
            self.exhaustiveClusterCounts = exhaustiveClusterCounts
            self.evaluatedPlans = evaluatedPlans
        }
    }

    /// A served set before it is merged: clusters, how each is served, and its weight-space quality.
    public struct Candidate: Sendable {
        /// Member task indices of each cluster.
        public let clusters: [[Int]]
        /// How each cluster is served (rank, bytes, own file or not).
        public let choices: [RankAllocation.Choice]
        /// Weight-space quality of each task (in the order of the tasks given).
        public let quality: [Double]

        public var clusterCount: Int { clusters.count }
        public var ranks: [Int] { choices.map(\.rank) }
        public var totalBytes: Int { choices.reduce(0) { $0 + $1.bytes } }
        public var meanQuality: Double { quality.isEmpty ? 1 : quality.reduce(0, +) / Double(quality.count) }
    }

    /// Makes the merger of a group's clusters from the group's tasks (e.g. a data-aware choice that
    /// needs their input sketches).
    public typealias MergerFactory = @Sendable (_ tasks: [TaskProfile], _ storageDType: DType) throws -> any ClusterMerging

    /// The factored truncated-SVD merge, the default.
    public static let svdMerger: MergerFactory = { _, dtype in SVDClusterMerger(storageDType: dtype) }

    public let evaluator: any Evaluator
    /// The dtype merged adapters are written in.
    public let storageDType: DType
    public let makeMerger: MergerFactory

    public init(evaluator: any Evaluator = WeightSpaceEvaluator(), storageDType: DType = .f16,
                merger: @escaping MergerFactory = RankAllocatingPlanner.svdMerger) {
        self.evaluator = evaluator
        self.storageDType = storageDType
        self.makeMerger = merger
    }

    /// Memoised rank curves, keyed by member set and maximum rank, and the tasks' Gram blocks they are
    /// computed from (shared by copies of the book).
    public struct CurveBook: Sendable {
        var curves: [String: RankQualityCurve] = [:]
        var bytes: [String: Int] = [:]
        var adapted: [Set<String>]?
        /// nil: not made yet; .some(nil): the tasks' modules differ, curves merge.
        var grams: FactorGrams??
        /// Served adapters already merged for these tasks.
        let served: ServedMergeCache
        /// The evaluator's scores of these tasks with those served adapters.
        let scores = ScoreMemo()
        public init() { served = ServedMergeCache() }

        /// A book whose merge cache holds a whole served set of `budget` bytes stored as `dtype` (the
        /// factors in memory are doubles), so that the joint part of a group and the group's own plan,
        /// which usually serve the same clustering, merge it once (at least `ServedMergeCache`'s default).
        public init(servedSetOf budget: Int, storedAs dtype: DType) {
            let inMemory = budget.multipliedReportingOverflow(by: MemoryLayout<Double>.stride / max(1, dtype.byteSize))
            served = ServedMergeCache(byteLimit: max(ServedMergeCache.defaultByteLimit,
                                                     inMemory.overflow ? .max : inMemory.partialValue))
        }

        /// The tasks' `FactorGrams`, made on first use.
        mutating func factorGrams(_ tasks: [TaskProfile]) -> FactorGrams? {
            if let known = grams { return known }
            let made = FactorGrams(adapters: tasks.map(\.adapter))
            grams = .some(made)
            return made
        }
    }

    // MARK: Candidates

    /// The cluster counts tried: 1 … K_max (K_max clusters fit at rank 1), at most `maximumClusterCounts`.
    public static func clusterCounts(maximum kMax: Int, limit: Int) -> [Int] {
        guard kMax >= 1 else { return [] }
        let m = max(2, limit)
        if kMax <= m { return Array(1...kMax) }
        var counts: [Int] = []
        for i in 0..<m {
            let k = 1 + Int((Double(i) * Double(kMax - 1) / Double(m - 1)).rounded())
            if counts.last != k { counts.append(k) }
        }
        return counts
    }

    /// The counts of `grid` tried first: `coarse` of them spread evenly (all when there are no more).
    static func coarseCounts(_ grid: [Int], coarse: Int) -> [Int] {
        clusterCounts(maximum: grid.count, limit: coarse).map { grid[$0 - 1] }
    }

    /// The counts of `grid` strictly between the neighbours (in `tried`) of the best count tried.
    static func fineCounts(_ grid: [Int], tried: [Int], best: Int) -> [Int] {
        let sorted = tried.sorted()
        guard let position = sorted.firstIndex(of: best) else { return [] }
        let low = position > 0 ? sorted[position - 1] : best
        let high = position + 1 < sorted.count ? sorted[position + 1] : best
        return grid.filter { $0 > low && $0 < high && !tried.contains($0) }
    }

    /// One allocated candidate per cluster count tried (coarse to fine), in increasing K.
    public func candidates(tasks: [TaskProfile], budget: Int, planner: BudgetPlanner, options: Options = Options(),
                           similarity: TaskSimilarity, book: inout CurveBook) throws -> [Candidate] {
        let n = tasks.count
        guard n > 0 else { throw ClusteringError(.invalidArgument, "there are no tasks to plan for") }
        let sizes = Self.sizes(tasks)
        // K_max: as many rank-1 adapters as fit (throws budgetTooSmall when not even one does).
        let oneRank = try planner.decide(tasks: sizes, budget: budget, mergedRank: 1)
        let kMax = oneRank.kind == .ownAdapters ? n : oneRank.clusterCount
        var result: [(k: Int, candidate: Candidate)] = []
        var tried: [Int] = []
        func attempt(_ counts: [Int]) throws {
            for k in counts {
                tried.append(k)
                let assignment = try KMedoids.cluster(distances: similarity.distanceMatrix, count: n, k: k,
                                                      seed: options.seed, restarts: options.restarts).assignment
                let clusters = ClusterRefiner.members(of: assignment, k: k).filter { !$0.isEmpty }
                do {
                    result.append((k, try allocate(clusters: clusters, tasks: tasks, budget: budget, planner: planner,
                                                   options: options, similarity: similarity, book: &book)))
                } catch let error as ClusteringError where error.code == .budgetTooSmall {
                    continue   // own files of singletons larger than rank 1 cannot all be re-encoded: skip this K
                }
            }
        }
        let grid = Self.clusterCounts(maximum: kMax, limit: options.maximumClusterCounts)
        try attempt(grid.count <= options.exhaustiveClusterCounts
                    ? grid : Self.coarseCounts(grid, coarse: options.coarseClusterCounts))
        if let best = result.max(by: { a, b in
            a.candidate.meanQuality < b.candidate.meanQuality - 1e-12
                || (abs(a.candidate.meanQuality - b.candidate.meanQuality) <= 1e-12 && a.k > b.k)
        }) {
            try attempt(Self.fineCounts(grid, tried: tried, best: best.k))
        }
        guard !result.isEmpty else {
            throw ClusteringError(.budgetTooSmall,
                "no clustering of the \(n) tasks fits \(BudgetPlanner.format(bytes: budget))")
        }
        return result.sorted { $0.k < $1.k }.map(\.candidate)
    }

    /// Allocates ranks to given clusters under `budget`.
    public func allocate(clusters: [[Int]], tasks: [TaskProfile], budget: Int, planner: BudgetPlanner,
                         options: Options = Options(), similarity: TaskSimilarity,
                         book: inout CurveBook) throws -> Candidate {
        let ways = try choices(clusters: clusters, tasks: tasks, planner: planner, options: options,
                               similarity: similarity, book: &book)
        return try ways.candidate(picked: try RankAllocation.allocate(choices: ways.choices, budget: budget),
                                  taskCount: tasks.count)
    }

    /// Every way of serving each of `clusters` (every rank up to its largest, a singleton's own file)
    /// with its exact bytes and weight-space value, from one SVD merge per cluster (memoised in `book`).
    public func choices(clusters: [[Int]], tasks: [TaskProfile], planner: BudgetPlanner, options: Options = Options(),
                        similarity: TaskSimilarity, book: inout CurveBook) throws -> ClusterChoices {
        let sizes = Self.sizes(tasks)
        let largest = options.maximumRank ?? (sizes.map(\.rank).max() ?? 1)
        var curves: [RankQualityCurve] = []
        var choices: [[RankAllocation.Choice]] = []
        for members in clusters {
            guard !members.isEmpty else { throw ClusteringError(.invalidArgument, "a cluster has no members") }
            try Task.checkCancellation()   // a merge per cluster: a cancelled plan stops within one
            let single = members.count == 1
            let top = single ? sizes[members[0]].rank
                             : max(1, min(largest, members.reduce(0) { $0 + sizes[$1].rank }))
            let curve = try self.curve(members: members, tasks: tasks, maximumRank: top, options: options,
                                       similarity: similarity, book: &book)
            var ways: [RankAllocation.Choice] = []
            for rank in 1...top {
                ways.append(.init(rank: rank, bytes: try bytes(rank: rank, members: members, tasks: tasks,
                                                               planner: planner, book: &book),
                                     value: curve.total(rank: rank)))
            }
            if single {
                ways.append(.init(rank: sizes[members[0]].rank, bytes: sizes[members[0]].ownBytes,
                                     value: Double(1), usesOwnAdapter: true))
            }
            curves.append(curve)
            choices.append(ways)
        }
        return ClusterChoices(clusters: clusters, choices: choices, curves: curves)
    }

    /// The ways of serving a set of clusters (`choices`), and each cluster's weight-space curve.
    public struct ClusterChoices: Sendable {
        /// Member task indices of each cluster.
        public let clusters: [[Int]]
        /// Each cluster's choices, as `RankAllocation` takes them.
        public let choices: [[RankAllocation.Choice]]
        /// Each cluster's members' weight-space quality at every rank.
        public let curves: [RankQualityCurve]

        /// The candidate made of choice `picked[c]` of every cluster c.
        public func candidate(picked: [Int], taskCount: Int) throws -> Candidate {
            try RankAllocatingPlanner.candidate(clusters: clusters, choices: choices, picked: picked,
                                                taskCount: taskCount) { curves[$0].quality(rank: $1.rank) }
        }
    }

    // MARK: Plan

    /// Plans the served set of `tasks` under `budget` bytes: own adapters when they all fit, otherwise
    /// the best allocated candidate (by the weight-space quality, or by the evaluator's scores of the
    /// best few when it is another evaluator). `book`: curves already merged for these `tasks` with
    /// these `options` and `similarity` (e.g. `JointBudgetPlanner.PreparedGroup.book`), so that their
    /// merges are not repeated.
    public func plan(tasks: [TaskProfile], budget: Int, planner: BudgetPlanner, options: Options = Options(),
                     similarity: TaskSimilarity? = nil, book known: CurveBook = CurveBook(),
                     progress: ClusterRefiner.Progress? = nil) async throws -> ClusterPlan {
        try AdapterProfileCheck.requireSameProfile(tasks.map(\.adapter), names: tasks.map(\.name))
        let sizes = Self.sizes(tasks)
        let decision = try planner.decide(tasks: sizes, budget: budget, mergedRank: 1)
        if decision.kind == .ownAdapters {
            return try await ClusterRefiner(evaluator: evaluator, merger: try makeMerger(tasks, storageDType))
                .plan(tasks: tasks, budget: budget, planner: planner, progress: progress)
        }
        let sim = try TaskSimilarity.of(tasks, given: similarity, progress: progress)
        progress?(0.05, "allocating ranks for every cluster count that fits")
        var book = known
        let all = try candidates(tasks: tasks, budget: budget, planner: planner, options: options,
                                 similarity: sim, book: &book)
        // Best first by weight-space quality; ties to the smaller K.
        let ranked = all.indices.sorted {
            all[$0].meanQuality > all[$1].meanQuality + 1e-12
                || (abs(all[$0].meanQuality - all[$1].meanQuality) <= 1e-12 && all[$0].clusterCount < all[$1].clusterCount)
        }.map { all[$0] }
        let scored = evaluator is WeightSpaceEvaluator ? Array(ranked.prefix(1))
                                                       : Array(ranked.prefix(max(1, options.evaluatedPlans)))
        progress?(0.3, "scoring \(scored.count) candidate plan\(scored.count == 1 ? "" : "s") with \(evaluator.name) "
                  + "(K = \(scored.map { String($0.clusterCount) }.joined(separator: ", ")))")
        var scoring = Scoring(tasks: tasks, evaluator: evaluator, memo: book.scores)
        try await scoring.scoreOwnAdapters()
        var best: (plan: ClusterPlan, mean: Double, candidate: Candidate)?
        for (index, candidate) in scored.enumerated() {
            let plan = try await materialise(candidate, tasks: tasks, budget: budget, planner: planner,
                                             options: options, similarity: sim, scoring: &scoring, merges: book.served,
                                             grams: book.factorGrams(tasks))
            progress?(0.3 + 0.6 * Double(index + 1) / Double(scored.count),
                      "K = \(candidate.clusterCount), ranks \(candidate.ranks): mean quality "
                      + "\(ClusterRefiner.format(plan.meanQuality)) (weight-space \(ClusterRefiner.format(candidate.meanQuality)))")
            if best == nil || plan.meanQuality > best!.mean + 1e-12 { best = (plan, plan.meanQuality, candidate) }
        }
        var rounds = 0
        var history = scored.map(\.meanQuality)
        var refinerEvaluations = 0
        if options.refinementRounds > 0, let start = best {
            let outcome = try await refineAssignment(of: start.candidate, tasks: tasks, budget: budget, planner: planner,
                                                     options: options, similarity: sim, scoring: &scoring,
                                                     book: &book, progress: progress)
            rounds = outcome.rounds
            history += outcome.history
            refinerEvaluations = outcome.evaluations
            if let refined = outcome.plan, refined.plan.meanQuality > start.mean + 1e-12 {
                best = (refined.plan, refined.plan.meanQuality, refined.candidate)
            }
        }
        if options.ranksByScores, !(evaluator is WeightSpaceEvaluator), let start = best {
            let byScores = try await allocateByScores(clusters: start.candidate.clusters, tasks: tasks, budget: budget,
                                                      planner: planner, options: options, similarity: sim,
                                                      scoring: &scoring, book: &book)
            let plan = try await materialise(byScores, tasks: tasks, budget: budget, planner: planner,
                                             options: options, similarity: sim, scoring: &scoring, merges: book.served,
                                             grams: book.factorGrams(tasks))
            progress?(1, "K = \(byScores.clusterCount), ranks by \(evaluator.name)'s scores \(byScores.ranks): mean quality "
                      + "\(ClusterRefiner.format(plan.meanQuality))")
            if plan.meanQuality > start.mean + 1e-12 { best = (plan, plan.meanQuality, byScores) }
        }
        guard let chosen = best?.plan else { throw ClusteringError(.invalidArgument, "no plan was scored") }
        return ClusterPlan(
            decision: chosen.decision, clusters: chosen.clusters, tasks: chosen.tasks, evaluatorName: evaluator.name,
            mergerName: chosen.mergerName, rounds: rounds, roundMeanQuality: history,
            evaluations: scoring.evaluations + refinerEvaluations)
    }

    /// The D2C-style refinement of a candidate's assignment: `ClusterRefiner` (the few examples' scores
    /// when the evaluator is data-driven) moves tasks between its clusters, each candidate cluster merged
    /// with the task, at the largest rank of the candidate's merged clusters; the refined clusters get
    /// their ranks allocated again and are scored like every candidate. nil plan: nothing moved (or
    /// there is nothing to move: one cluster, or every task alone).
    private func refineAssignment(
        of candidate: Candidate, tasks: [TaskProfile], budget: Int, planner: BudgetPlanner, options: Options,
        similarity: TaskSimilarity, scoring: inout Scoring, book: inout CurveBook, progress: ClusterRefiner.Progress?
    ) async throws -> (plan: (plan: ClusterPlan, candidate: Candidate)?, rounds: Int, history: [Double], evaluations: Int) {
        let clusters = candidate.clusters
        let k = clusters.count
        guard k > 1, k < tasks.count else { return (nil, 0, [], 0) }
        var assignment = [Int](repeating: 0, count: tasks.count)
        for (c, members) in clusters.enumerated() { for task in members { assignment[task] = c } }
        let rank = zip(clusters, candidate.choices).filter { $0.0.count > 1 }.map { $0.1.rank }.max() ?? 1
        progress?(0.9, "refining the assignment of K = \(k) with \(evaluator.name) (candidate merges at rank \(rank))")
        let merger = try makeMerger(tasks, storageDType)
        let fromCurves = Self.curveScoring(tasks, evaluator: evaluator, merger: merger, similarity: similarity, book: &book)
        let refiner = ClusterRefiner(evaluator: evaluator, merger: merger, mergeScores: fromCurves?.scores,
                                     scoreBound: fromCurves?.bound)
        let result = try await refiner.refine(
            tasks: tasks, clusterCount: k, mergedRank: rank,
            options: .init(maxRounds: options.refinementRounds, candidateClusters: options.candidateClusters,
                           weighting: options.weighting, seed: options.seed, restarts: options.restarts,
                           candidateMerge: .withTask),
            similarity: similarity, initialAssignment: assignment, mergingResult: false)
        let refined = result.clusters.filter { !$0.isEmpty }
        guard Set(refined.map { $0.sorted() }) != Set(clusters.map { $0.sorted() }) else {
            return (nil, result.rounds, result.roundMeanQuality, result.evaluations)
        }
        let allocated: Candidate
        do {
            allocated = try allocate(clusters: refined, tasks: tasks, budget: budget, planner: planner, options: options,
                                     similarity: similarity, book: &book)
        } catch let error as ClusteringError where error.code == .budgetTooSmall {
            return (nil, result.rounds, result.roundMeanQuality, result.evaluations)
        }
        let plan = try await materialise(allocated, tasks: tasks, budget: budget, planner: planner, options: options,
                                         similarity: similarity, scoring: &scoring, merges: book.served,
                                         grams: book.factorGrams(tasks))
        progress?(0.95, "refined in \(result.rounds) round\(result.rounds == 1 ? "" : "s"): K = \(allocated.clusterCount), "
                  + "ranks \(allocated.ranks), mean quality \(ClusterRefiner.format(plan.meanQuality))")
        return ((plan, allocated), result.rounds, result.roundMeanQuality, result.evaluations)
    }

    /// Weight-space scores of SVD merges read from their rank curves (`FactorGrams`, no merge formed),
    /// and bounds of a join's score from the curve of the cluster joined and the tasks' inner products
    /// in `similarity` (`JoinQualityBound`), when those are what `evaluator` and `merger` give; nil
    /// otherwise.
    static func curveScoring(_ tasks: [TaskProfile], evaluator: any Evaluator, merger: any ClusterMerging,
                             similarity: TaskSimilarity, book: inout CurveBook)
        -> (scores: ClusterRefiner.MergeScores, bound: ClusterRefiner.ScoreBound)? {
        guard RankQualityCurve.scores(of: evaluator, merger: merger), let grams = book.factorGrams(tasks) else {
            return nil
        }
        let made = CurvesMade()
        let scores: ClusterRefiner.MergeScores = { members, weights, rank in
            let curve = try RankQualityCurve.compute(members: members, adapters: members.map { tasks[$0].adapter },
                                                     weights: weights, maximumRank: rank, grams: grams)
            made.keep(curve, weights: weights, rank: rank)
            return curve.quality(rank: rank)
        }
        let bound: ClusterRefiner.ScoreBound = { task, members, weights, rank, others, otherWeights in
            guard let curve = made.curve(members: others, weights: otherWeights, rank: rank) else { return nil }
            return JoinQualityBound.upperBound(task: task, members: members, weights: weights, rank: rank, others: others,
                                               otherWeights: otherWeights, othersCurve: curve,
                                               inner: { similarity.inner[$0 * similarity.count + $1] })
        }
        return (scores, bound)
    }

    /// The curves a refinement made, by member set, weights and rank.
    private final class CurvesMade: Sendable {
        private struct Key: Hashable {
            let members: [Int]
            let weights: [UInt64]
            let rank: Int
        }

        private let curves = Mutex<[Key: RankQualityCurve]>([:])

        func keep(_ curve: RankQualityCurve, weights: [Double], rank: Int) {
            let key = Key(members: curve.members, weights: weights.map(\.bitPattern), rank: rank)
            curves.withLock { $0[key] = curve }
        }

        func curve(members: [Int], weights: [Double], rank: Int) -> RankQualityCurve? {
            curves.withLock { $0[Key(members: members, weights: weights.map(\.bitPattern), rank: rank)] }
        }
    }

    /// Allocates ranks to `clusters` with the evaluator's scores as values: each cluster is merged at
    /// ranks 1, 2, 4, … up to its largest, every member scored (a task alone at its own rank or by its
    /// own file keeps 1 without a score), the values made non-decreasing in rank (a score that drops with
    /// more rank is noise of a few examples), and the greedy allocation run on them.
    private func allocateByScores(clusters: [[Int]], tasks: [TaskProfile], budget: Int, planner: BudgetPlanner,
                                  options: Options, similarity: TaskSimilarity, scoring: inout Scoring,
                                  book: inout CurveBook) async throws -> Candidate {
        let sizes = Self.sizes(tasks)
        let largest = options.maximumRank ?? (sizes.map(\.rank).max() ?? 1)
        let merger = try makeMerger(tasks, storageDType)
        var choices: [[RankAllocation.Choice]] = []
        var qualities: [[Int: [Double]]] = []
        for members in clusters {
            let single = members.count == 1
            let top = single ? sizes[members[0]].rank
                             : max(1, min(largest, members.reduce(0) { $0 + sizes[$1].rank }))
            var grid: [Int] = []
            var rank = 1
            while rank < top { grid.append(rank); rank *= 2 }
            grid.append(top)
            let weights = single ? [1] : options.weighting.weights(norms: members.map { similarity.norm($0) })
            // The merges of every rank first, then their members' scores asked for together.
            var requests: [(task: Int, key: String, candidate: LoRAAdapter)] = []
            for rank in grid where !(single && rank >= sizes[members[0]].rank) {
                let adapter = try served(members, rank: rank, weights: weights, tasks: tasks,
                                         adapted: adapted(tasks, book: &book), planner: planner, merger: merger,
                                         cache: book.served, grams: book.factorGrams(tasks))
                requests += members.map { (task: $0, key: Self.key(members, rank: rank), candidate: adapter) }
            }
            var scored = try await scoring.qualities(requests)[...]
            var ways: [RankAllocation.Choice] = []
            var byRank: [Int: [Double]] = [:]
            var running = -Double.infinity
            for rank in grid {
                let values: [Double]
                if single && rank >= sizes[members[0]].rank {
                    values = [1]
                } else {
                    values = Array(scored.prefix(members.count))
                    scored = scored.dropFirst(members.count)
                }
                byRank[rank] = values
                running = max(running, values.reduce(0, +))
                ways.append(.init(rank: rank, bytes: try bytes(rank: rank, members: members, tasks: tasks, planner: planner,
                                                               book: &book), value: running))
            }
            if single {
                ways.append(.init(rank: sizes[members[0]].rank, bytes: sizes[members[0]].ownBytes, value: 1,
                                  usesOwnAdapter: true))
            }
            choices.append(ways)
            qualities.append(byRank)
        }
        return try Self.allocated(clusters: clusters, choices: choices, budget: budget, taskCount: tasks.count) {
            qualities[$0][$1.rank] ?? clusters[$0].map { _ in 0 }
        }
    }

    /// The candidate `RankAllocation` picks among each cluster's `choices`: every member's quality is
    /// `values(cluster, choice)` at its position in the cluster, 1 when served by its own file.
    private static func allocated(clusters: [[Int]], choices: [[RankAllocation.Choice]], budget: Int, taskCount: Int,
                                  values: (Int, RankAllocation.Choice) -> [Double]) throws -> Candidate {
        try candidate(clusters: clusters, choices: choices,
                      picked: try RankAllocation.allocate(choices: choices, budget: budget), taskCount: taskCount,
                      values: values)
    }

    /// The candidate made of choice `picked[c]` of every cluster c; every member's quality is
    /// `values(cluster, choice)` at its position in the cluster, 1 when served by its own file.
    static func candidate(clusters: [[Int]], choices: [[RankAllocation.Choice]], picked: [Int], taskCount: Int,
                          values: (Int, RankAllocation.Choice) -> [Double]) throws -> Candidate {
        guard picked.count == clusters.count, choices.count == clusters.count,
              zip(picked, choices).allSatisfy({ $1.indices.contains($0) }) else {
            throw ClusteringError(.invalidArgument, "one picked choice per cluster is needed")
        }
        var quality = [Double](repeating: 0, count: taskCount)
        var chosen: [RankAllocation.Choice] = []
        for (c, members) in clusters.enumerated() {
            let choice = choices[c][picked[c]]
            chosen.append(choice)
            let memberValues = choice.usesOwnAdapter ? [1] : values(c, choice)
            for (m, task) in members.enumerated() { quality[task] = memberValues[m] }
        }
        return Candidate(clusters: clusters, choices: chosen, quality: quality)
    }

    static func key(_ members: [Int], rank: Int) -> String {
        "\(members.sorted().map(String.init).joined(separator: ","))@\(rank)"
    }

    /// Merges a candidate's clusters at their ranks and scores every task with the evaluator.
    /// `book`: the book of these tasks, whose merges are reused (and kept for the next plan of them).
    public func plan(candidate: Candidate, tasks: [TaskProfile], budget: Int, planner: BudgetPlanner,
                     options: Options = Options(), similarity: TaskSimilarity,
                     book: CurveBook = CurveBook()) async throws -> ClusterPlan {
        var scoring = Scoring(tasks: tasks, evaluator: evaluator, memo: book.scores)
        try await scoring.scoreOwnAdapters()
        var book = book   // its Grams, if made here, are shared with the caller's copies only from now on
        return try await materialise(candidate, tasks: tasks, budget: budget, planner: planner, options: options,
                                     similarity: similarity, scoring: &scoring, merges: book.served,
                                     grams: book.factorGrams(tasks))
    }

    private func materialise(_ candidate: Candidate, tasks: [TaskProfile], budget: Int, planner: BudgetPlanner,
                             options: Options, similarity: TaskSimilarity, scoring: inout Scoring,
                             merges: ServedMergeCache, grams: FactorGrams?) async throws -> ClusterPlan {
        let merger = try makeMerger(tasks, storageDType)
        let adapted = tasks.map { Self.adaptedModules($0.adapter) }
        var clusters: [ClusterPlan.Cluster] = []
        var outcomes = [ClusterPlan.TaskOutcome?](repeating: nil, count: tasks.count)
        var requests: [(task: Int, key: String, candidate: LoRAAdapter)] = []
        var requestCluster: [Int] = []
        for (c, members) in candidate.clusters.enumerated() {
            try Task.checkCancellation()
            let choice = candidate.choices[c]
            let adapter: LoRAAdapter
            let bytes: Int
            if choice.usesOwnAdapter, let only = members.first {
                adapter = tasks[only].adapter
                bytes = tasks[only].ownBytes
            } else {
                let weights = members.count == 1 ? [1]
                    : options.weighting.weights(norms: members.map { similarity.norm($0) })
                adapter = try served(members, rank: choice.rank, weights: weights, tasks: tasks, adapted: adapted,
                                     planner: planner, merger: merger, cache: merges, grams: grams)
                bytes = try planner.bytes(of: adapter)
            }
            let key = Self.key(members, rank: choice.usesOwnAdapter ? 0 : choice.rank)
            for task in members {
                if choice.usesOwnAdapter {
                    outcomes[task] = .init(name: tasks[task].name, cluster: c, quality: 1)
                } else {
                    requests.append((task, key, adapter))
                    requestCluster.append(c)
                }
            }
            clusters.append(.init(id: c, members: members.map { tasks[$0].name }, adapter: adapter,
                                  usesOwnAdapter: choice.usesOwnAdapter,
                                  rank: adapter.modules.map(\.rank).max() ?? choice.rank, bytes: bytes))
        }
        for (request, (c, quality)) in zip(requests, zip(requestCluster, try await scoring.qualities(requests))) {
            outcomes[request.task] = .init(name: tasks[request.task].name, cluster: c, quality: quality)
        }
        let total = clusters.reduce(0) { $0 + $1.bytes }
        guard total <= budget else {
            throw ClusteringError(.mergeFailed,
                "the served adapters take \(BudgetPlanner.format(bytes: total)), over the budget of "
                + "\(BudgetPlanner.format(bytes: budget))")
        }
        let ownTotal = tasks.reduce(0) { $0 + $1.ownBytes }
        let mergedRanks = clusters.filter { !$0.usesOwnAdapter }.map(\.rank)
        let topRank = mergedRanks.max() ?? 0
        let decision = BudgetPlanner.Decision(
            kind: .clustered, clusterCount: clusters.count, mergedRank: topRank,
            mergedBytes: topRank > 0 ? try planner.mergedBytes(rank: topRank) : 0, ownTotalBytes: ownTotal,
            budget: budget, dtype: planner.dtype)
        return ClusterPlan(decision: decision, clusters: clusters, tasks: outcomes.compactMap { $0 },
                           evaluatorName: evaluator.name, mergerName: merger.name, rounds: 0,
                           roundMeanQuality: [candidate.meanQuality], evaluations: scoring.evaluations)
    }

    // MARK: Internals

    static func sizes(_ tasks: [TaskProfile]) -> [BudgetPlanner.TaskSize] {
        tasks.map {
            BudgetPlanner.TaskSize(name: $0.name, ownBytes: $0.ownBytes, rank: max(1, $0.adapter.modules.map(\.rank).max() ?? 1))
        }
    }

    private func curve(members: [Int], tasks: [TaskProfile], maximumRank: Int, options: Options,
                       similarity: TaskSimilarity, book: inout CurveBook) throws -> RankQualityCurve {
        let key = "\(members.map(String.init).joined(separator: ","))@\(maximumRank)"
        if let known = book.curves[key] { return known }
        let weights = members.count == 1 ? [1] : options.weighting.weights(norms: members.map { similarity.norm($0) })
        let curve = try RankQualityCurve.compute(members: members, adapters: members.map { tasks[$0].adapter },
                                                 weights: weights, maximumRank: maximumRank,
                                                 grams: book.factorGrams(tasks))
        book.curves[key] = curve
        return curve
    }

    /// The names of the modules a task adapts (A and B not all zero); a padded or untrained module
    /// is exactly zero and is left out.
    static func adaptedModules(_ adapter: LoRAAdapter) -> Set<String> {
        Set(adapter.modules.filter { m in
            m.name.contains("#") || (!m.factorA.isZero && !m.factorB.isZero)
        }.map(\.name))
    }

    /// The modules and target modules of a merge of `members` when some of the profile's modules are
    /// zero in every member (tasks padded to a module union, untrained modules): a merged adapter need
    /// not store them. nil when every module is adapted by some member (the usual case in the daemon,
    /// whose profiles have one module set), and the merged adapter is the planner's template.
    static func trimming(_ members: [Int], adapted: [Set<String>], tasks: [TaskProfile],
                         planner: BudgetPlanner) -> (keep: Set<String>, targets: [String])? {
        var keep = Set<String>()
        for task in members { keep.formUnion(adapted[task]) }
        let all = Set(planner.modules.map(\.name))
        guard !keep.isEmpty, keep.count < all.count, keep.isSubset(of: all) else { return nil }
        let targets = Set(members.flatMap { tasks[$0].adapter.config.targetModules }).sorted()
        return (keep, targets)
    }

    /// The adapter serving `members` at `rank`: their merge by `merger` (a task alone: re-encoded), without the
    /// modules no member adapts, in the planner's template form so that its size is what was planned. An SVD
    /// merge reads its Grams from `grams` (the tasks' kept blocks) where given.
    private func served(_ members: [Int], rank: Int, weights: [Double], tasks: [TaskProfile], adapted: [Set<String>],
                        planner: BudgetPlanner, merger: any ClusterMerging, cache: ServedMergeCache,
                        grams: FactorGrams?) throws -> LoRAAdapter {
        let merged = try ClusteringError.reportingMergeFailure(
            "merging tasks \(members.map { "'\(tasks[$0].name)'" }.joined(separator: ", ")) at rank \(rank)") {
            try cache.adapter(members: members, rank: rank, merger: merger.name) {
                try merger.merge(members.map { tasks[$0].adapter }, weights: weights, rank: rank, grams: grams,
                                 members: members)
            }
        }
        guard let trim = Self.trimming(members, adapted: adapted, tasks: tasks, planner: planner) else { return merged }
        let template = planner.template(rank: rank, keeping: trim.keep, targetModules: trim.targets)
        let modules = merged.modules.filter { trim.keep.contains($0.name) }
        let tensorBytes = modules.reduce(0) { $0 + $1.factorElementCount * storageDType.byteSize }
        return LoRAAdapter(config: template.config, modules: modules, architecture: merged.architecture,
                           storageDType: merged.storageDType, tensorBytes: tensorBytes)
    }

    /// Each task's adapted modules, computed once per book.
    private func adapted(_ tasks: [TaskProfile], book: inout CurveBook) -> [Set<String>] {
        if let known = book.adapted, known.count == tasks.count { return known }
        let sets = tasks.map { Self.adaptedModules($0.adapter) }
        book.adapted = sets
        return sets
    }

    private func bytes(rank: Int, members: [Int], tasks: [TaskProfile], planner: BudgetPlanner,
                       book: inout CurveBook) throws -> Int {
        let trim = Self.trimming(members, adapted: adapted(tasks, book: &book), tasks: tasks, planner: planner)
        let key = trim.map { "\($0.keep.sorted().joined(separator: ","))|\($0.targets.joined(separator: ","))@\(rank)" } ?? "@\(rank)"
        if let known = book.bytes[key] { return known }
        let size = try trim.map { try planner.mergedBytes(rank: rank, keeping: $0.keep, targetModules: $0.targets) }
            ?? planner.mergedBytes(rank: rank)
        book.bytes[key] = size
        return size
    }

    /// The evaluator's scores, memoised by (task, served adapter), and the own adapters' scores; kept
    /// in the book's `ScoreMemo` too, so that a plan made with the same book (the group's own plan after
    /// its joint part) does not score them again. `evaluations` counts the scores this one asked for.
    private struct Scoring {
        let tasks: [TaskProfile]
        let evaluator: any Evaluator
        let memo: ScoreMemo
        var own: [Double] = []
        var evaluations = 0

        init(tasks: [TaskProfile], evaluator: any Evaluator, memo: ScoreMemo) {
            self.tasks = tasks
            self.evaluator = evaluator
            self.memo = memo
        }

        mutating func scoreOwnAdapters() async throws {
            guard own.isEmpty else { return }
            let scores = try await scores(tasks.indices.map { (task: $0, key: "own", candidate: tasks[$0].adapter) })
            for (i, score) in scores.enumerated() where !(score > 0) {
                throw ClusteringError(.evaluatorFailed,
                    "evaluator \(evaluator.name) scored task '\(tasks[i].name)''s own adapter at \(score); "
                    + "retained quality needs a positive score for it (use accuracy or exp(−loss))")
            }
            own = scores
        }

        /// Retained quality of each task with the served adapter `key`, in order; the scores not in the
        /// memo asked for together (`Evaluator.checkedScores`).
        mutating func qualities(_ requests: [(task: Int, key: String, candidate: LoRAAdapter)]) async throws -> [Double] {
            try await scores(requests).enumerated().map { $0.element / own[requests[$0.offset].task] }
        }

        /// The memo's score of each task with the served adapter `key`, else the evaluator's, kept.
        private mutating func scores(_ requests: [(task: Int, key: String, candidate: LoRAAdapter)]) async throws -> [Double] {
            let memoKeys = requests.map { "\(evaluator.name)|\($0.task)|\($0.key)" }
            var known: [String: Double] = [:]
            var missing: [Int] = []   // the first request of each key not in the memo
            var asked = Set<String>()
            for (i, memoKey) in memoKeys.enumerated() {
                if let score = memo.score(memoKey) { known[memoKey] = score } else if asked.insert(memoKey).inserted { missing.append(i) }
            }
            evaluations += missing.count
            let fresh = try await evaluator.checkedScores(missing.map { (tasks[requests[$0].task], requests[$0].candidate) },
                                                          concurrency: 1)
            for (i, value) in zip(missing, fresh) {
                memo.keep(value, for: memoKeys[i])
                known[memoKeys[i]] = value
            }
            return memoKeys.map { known[$0]! }
        }
    }
}
