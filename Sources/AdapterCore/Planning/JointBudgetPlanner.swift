/// Plans the served set of every task under one byte budget with one allocation: every way of serving
/// a unit (a task alone at rank r or by its own file, or a cluster merged at rank r, in any group)
/// competes for the same bytes by the weight-space quality it buys per byte. There are no per-group
/// shares: a group whose merged adapter is twice as large (more modules) gets bytes only where they
/// buy more quality than elsewhere.
///
/// 1. Groups: `MergeableGroups` (one base model; module sets padded to their union where sound).
/// 2. Each group's candidate clusterings: every task alone (rank truncation only), and k-medoids
///    clusters for the cluster counts K of `RankAllocatingPlanner.clusterCounts`; each cluster's
///    choices (rank 1 … its largest, a singleton's own file) with exact bytes and weight-space value.
/// 3. The joint allocation: one clustering per group, the ranks of all their clusters allocated
///    together (`RankAllocation`, greedy by value per byte) under the whole budget; the clusterings
///    are searched coordinate-wise from the best of three starts (truncate-only: every group's tasks
///    alone; the fewest clusters; each group's best clustering within the fixed share of the previous
///    policy), a change kept only when the total weight-space quality rises, so the result is never
///    below truncate-only nor the fixed-share clusterings by that score. This is done for the module
///    sets of a base model joined (cross-module-set merges) and for one group per exact profile; the
///    better is kept.
/// 4. Each group's part is scored with the evaluator, and, when the group has tasks to cluster, its
///    tasks are also planned by `RankAllocatingPlanner` (D2C refinement, ranks by scores) within the
///    bytes the joint allocation gave it plus its part of what is left; the better by the evaluator
///    is kept. Then the truncate-only allocation is scored with the evaluator too and served if it
///    scores better: the plan is never below truncate-only at the same budget by the evaluator's score.
///    A plan that merges must score higher by more than one example can move a task's score
///    (`Evaluator.exampleWeight`: 1/10 with ten examples, 0 for weight-space and data-aware): a
///    smaller lead of a sampled score is not evidence that merging serves the tasks better.
/// Deterministic (seeded k-medoids, ties to the earlier clustering).
public struct JointBudgetPlanner: Sendable {
    public let evaluator: any Evaluator
    public let storageDType: DType
    public let options: RankAllocatingPlanner.Options
    /// Exact bytes of a written adapter (tests pass a stand-in).
    public let sizer: BudgetPlanner.Sizer
    /// Passes of the coordinate search over the groups' clusterings.
    public let searchPasses: Int

    /// Makes each group's merger (the SVD merge by default).
    public let makeMerger: RankAllocatingPlanner.MergerFactory

    public init(evaluator: any Evaluator = WeightSpaceEvaluator(), storageDType: DType = .f16,
                options: RankAllocatingPlanner.Options = .init(), sizer: @escaping BudgetPlanner.Sizer = BudgetPlanner.peftDirectorySize,
                searchPasses: Int = 4, merger: @escaping RankAllocatingPlanner.MergerFactory = RankAllocatingPlanner.svdMerger) {
        self.makeMerger = merger
        self.evaluator = evaluator
        self.storageDType = storageDType
        self.options = options
        self.sizer = sizer
        self.searchPasses = max(1, searchPasses)
    }

    /// A group ready for the allocation: its planner, similarity and candidate clusterings.
    public struct PreparedGroup: Sendable {
        public let group: MergeableGroups.Group
        public let planner: BudgetPlanner
        public let similarity: TaskSimilarity
        /// Candidate clusterings; index 0 is every task alone (truncate-only).
        public let clusterings: [RankAllocatingPlanner.ClusterChoices]
        /// The rank curves merged for them, reused when the group is planned on its own.
        public let book: RankAllocatingPlanner.CurveBook
    }

    /// One clustering per group with the ranks of all their clusters allocated under one budget.
    public struct Allocation: Sendable {
        /// Index of each group's clustering in its `PreparedGroup.clusterings`.
        public let clusterings: [Int]
        /// Each group's candidate (clusters, choices, weight-space quality per task).
        public let candidates: [RankAllocatingPlanner.Candidate]
        /// Σ of every task's weight-space quality.
        public let value: Double
        /// Σ bytes of the served adapters.
        public var totalBytes: Int { candidates.reduce(0) { $0 + $1.totalBytes } }
        public var taskCount: Int { candidates.reduce(0) { $0 + $1.quality.count } }
        public var meanQuality: Double { taskCount == 0 ? 1 : value / Double(taskCount) }
    }

    /// Reports planning progress: fraction 0…1 and a line for the user.
    public typealias Progress = @Sendable (_ fraction: Double, _ message: String) -> Void

    // MARK: Preparing

    /// The groups of `tasks` with their candidate clusterings (≈ Σ K merges per group): the module
    /// sets of a base model joined where sound (`MergeableGroups.form`), or, with `exactProfiles`, one
    /// group per exact profile.
    /// Cluster counts are tried up to what `budget` holds at rank 1 (every task alone always is).
    public func prepare(_ tasks: [TaskProfile], budget: Int, exactProfiles: Bool = false,
                        progress: Progress? = nil) throws -> [PreparedGroup] {
        let allocator = RankAllocatingPlanner(evaluator: WeightSpaceEvaluator(), storageDType: storageDType)
        var prepared: [PreparedGroup] = []
        let groups = exactProfiles ? MergeableGroups.exactProfiles(tasks) : MergeableGroups.form(tasks)
        for (g, group) in groups.enumerated() {
            progress?(0.3 * Double(g) / Double(max(1, groups.count)),
                      "candidate clusterings of \(group.tasks.count) task\(group.tasks.count == 1 ? "" : "s")"
                      + (group.padded ? " (module sets padded to their union)" : ""))
            let planner = try BudgetPlanner(tasks: group.tasks, dtype: storageDType, sizer: sizer)
            var book = RankAllocatingPlanner.CurveBook(servedSetOf: budget, storedAs: storageDType)
            // The similarity's Gram blocks are the ones the candidate clusterings' curves stack.
            let similarity = try TaskSimilarity.of(group.tasks, given: nil, progress: nil,
                                                   keeping: book.factorGrams(group.tasks))
            let n = group.tasks.count
            var seen = Set<[[Int]]>()
            var clusterings: [RankAllocatingPlanner.ClusterChoices] = []
            func add(_ clusters: [[Int]]) throws {
                let canonical = clusters.map { $0.sorted() }.sorted { $0.first! < $1.first! }
                guard seen.insert(canonical).inserted else { return }
                clusterings.append(try allocator.choices(clusters: canonical, tasks: group.tasks, planner: planner,
                                                         options: options, similarity: similarity, book: &book))
            }
            try add((0..<n).map { [$0] })
            let rankOne = try planner.mergedBytes(rank: 1)
            let kMax = min(n, rankOne > 0 ? max(1, budget / rankOne) : n)
            let counts = RankAllocatingPlanner.clusterCounts(maximum: kMax, limit: options.maximumClusterCounts).filter { $0 < n }
            for (i, k) in counts.enumerated() {
                progress?(0.3 * (Double(g) + Double(i + 1) / Double(counts.count + 1)) / Double(max(1, groups.count)),
                          "candidate clustering K = \(k) of \(n) tasks: merging each cluster once for its rank curve")
                let assignment = try KMedoids.cluster(distances: similarity.distanceMatrix, count: n, k: k,
                                                      seed: options.seed, restarts: options.restarts).assignment
                try add(ClusterRefiner.members(of: assignment, k: k).filter { !$0.isEmpty })
            }
            prepared.append(PreparedGroup(group: group, planner: planner, similarity: similarity, clusterings: clusterings,
                                          book: book))
        }
        return prepared
    }

    // MARK: Allocating

    /// The joint allocation of the given clusterings (one index per group) under `budget`; nil when
    /// even their cheapest choices do not fit.
    public func allocate(_ prepared: [PreparedGroup], clusterings: [Int], budget: Int) throws -> Allocation? {
        var choices: [[RankAllocation.Choice]] = []
        var owner: [(group: Int, count: Int)] = []
        for (g, group) in prepared.enumerated() {
            let ways = group.clusterings[clusterings[g]]
            choices += ways.choices
            owner.append((g, ways.choices.count))
        }
        let picked: [Int]
        do {
            picked = try RankAllocation.allocate(choices: choices, budget: budget)
        } catch let error as ClusteringError where error.code == .budgetTooSmall {
            return nil
        }
        var candidates: [RankAllocatingPlanner.Candidate] = []
        var offset = 0
        var value = 0.0
        for (g, count) in owner {
            let part = Array(picked[offset..<(offset + count)])
            offset += count
            let candidate = try prepared[g].clusterings[clusterings[g]].candidate(
                picked: part, taskCount: prepared[g].group.tasks.count)
            value += candidate.quality.reduce(0, +)
            candidates.append(candidate)
        }
        return Allocation(clusterings: clusterings, candidates: candidates, value: value)
    }

    /// Truncate-only: every task alone in every group, ranks allocated jointly (nil: does not fit).
    public func truncateOnly(_ prepared: [PreparedGroup], budget: Int) throws -> Allocation? {
        try allocate(prepared, clusterings: prepared.map { _ in 0 }, budget: budget)
    }

    /// The best allocation the coordinate search finds, starting from truncate-only (or, when that does
    /// not fit, from the fewest clusters per group).
    /// - Throws: `budgetTooSmall` when no combination of clusterings fits the budget.
    public func jointAllocation(_ prepared: [PreparedGroup], budget: Int) throws -> Allocation {
        // Starts: truncate-only; the fewest clusters of every group; and each group's best clustering
        // within the fixed share the previous policy gave it. The best start that fits is improved.
        let fewest = prepared.map { group in
            group.clusterings.indices.min { group.clusterings[$0].clusters.count < group.clusterings[$1].clusters.count }!
        }
        var best: Allocation?
        for start in [prepared.map { _ in 0 }, fewest, try fixedShareStart(prepared, budget: budget, fallback: fewest)] {
            guard let allocation = try allocate(prepared, clusterings: start, budget: budget) else { continue }
            if best == nil || allocation.value > best!.value + 1e-9 { best = allocation }
        }
        guard var current = best else {
            let cheapest = prepared.reduce(0) { total, group in
                total + (group.clusterings.map { $0.choices.reduce(0) { $0 + ($1.map(\.bytes).min() ?? 0) } }.min() ?? 0)
            }
            throw ClusteringError(.budgetTooSmall,
                "a budget of \(BudgetPlanner.format(bytes: budget)) cannot hold even one merged adapter per group "
                + "of tasks that can share one: at rank 1 they take \(BudgetPlanner.format(bytes: cheapest))")
        }
        for _ in 0..<searchPasses {
            var improved = false
            for g in prepared.indices {
                for index in prepared[g].clusterings.indices where index != current.clusterings[g] {
                    var trial = current.clusterings
                    trial[g] = index
                    guard let allocation = try allocate(prepared, clusterings: trial, budget: budget) else { continue }
                    if allocation.value > current.value + 1e-9 {
                        current = allocation
                        improved = true
                    }
                }
            }
            // One group: its every clustering was tried against the fixed rest; nothing more to find.
            if !improved || prepared.count == 1 { break }
        }
        return current
    }

    /// The better joint allocation of two groupings by weight-space value: module sets of a base model
    /// joined (cross-module-set merges possible), or one group per exact profile (ties: exact).
    func bestGrouping(_ tasks: [TaskProfile], budget: Int,
                      progress: Progress?) throws -> (prepared: [PreparedGroup], allocation: Allocation) {
        let joined = try prepare(tasks, budget: budget, progress: progress)
        progress?(0.3, "allocating the budget across \(joined.count) group\(joined.count == 1 ? "" : "s")")
        guard joined.contains(where: \.group.padded) else { return (joined, try jointAllocation(joined, budget: budget)) }
        let exact = try prepare(tasks, budget: budget, exactProfiles: true)
        let byJoined = try? jointAllocation(joined, budget: budget)
        let byExact = try? jointAllocation(exact, budget: budget)
        switch (byJoined, byExact) {
        case let (j?, e?): return j.value > e.value + 1e-9 ? (joined, j) : (exact, e)
        case let (j?, nil): return (joined, j)
        case let (nil, e?): return (exact, e)
        case (nil, nil): return (joined, try jointAllocation(joined, budget: budget))
        }
    }

    /// Each group's clustering whose own allocation within the group's fixed share (`fixedShares`)
    /// is worth most; `fallback[g]` where none fits the share.
    func fixedShareStart(_ prepared: [PreparedGroup], budget: Int, fallback: [Int]) throws -> [Int] {
        let own = prepared.map { $0.group.tasks.reduce(0) { $0 + $1.ownBytes } }
        let minimum = try prepared.enumerated().map { g, group in
            min(own[g], try group.planner.mergedBytes(rank: max(1, group.group.tasks.map {
                $0.adapter.modules.map(\.rank).max() ?? 1 }.max() ?? 1)))
        }
        let shares = Self.fixedShares(budget: budget, own: own, minimum: minimum)
        return prepared.enumerated().map { g, group in
            var best: (index: Int, value: Double)?
            for (index, ways) in group.clusterings.enumerated() {
                guard let picked = try? RankAllocation.allocate(choices: ways.choices, budget: shares[g]) else { continue }
                let value = zip(ways.choices, picked).reduce(0) { $0 + $1.0[$1.1].value }
                if best == nil || value > best!.value + 1e-9 { best = (index, value) }
            }
            return best?.index ?? fallback[g]
        }
    }

    /// The previous policy, for comparison in tests and benches: each group first gets `minimum` (one
    /// merged adapter at the largest rank), then the rest of `budget` in proportion to `own − minimum`,
    /// never more than `own`; with too little for the minimums, shares proportional to them.
    public static func fixedShares(budget: Int, own: [Int], minimum: [Int]) -> [Int] {
        let totalMinimum = minimum.reduce(0, +)
        guard totalMinimum > 0 else { return own.map { _ in budget / max(1, own.count) } }
        if budget < totalMinimum {
            return minimum.map { Int(Double(budget) * Double($0) / Double(totalMinimum)) }
        }
        let extra = Double(budget - totalMinimum)
        let wants = zip(own, minimum).map { Double(max(0, $0 - $1)) }
        let totalWant = wants.reduce(0, +)
        return minimum.indices.map { i in
            let bonus = totalWant > 0 ? (extra * wants[i] / totalWant).rounded(.down) : 0
            return min(own[i], minimum[i] + Int(bonus))
        }
    }

    // MARK: Planning

    /// Plans the served set of `tasks` (any base models and module sets) under `budget` bytes.
    /// - Throws: `budgetTooSmall` when no served set fits; `evaluatorFailed` from the evaluator.
    public func plan(tasks: [TaskProfile], budget: Int, progress: Progress? = nil) async throws -> JointPlan {
        guard !tasks.isEmpty else { throw ClusteringError(.invalidArgument, "there are no tasks to plan for") }
        guard budget >= 0 else { throw ClusteringError(.invalidArgument, "the budget must not be negative") }
        guard let ownTotal = tasks.lazy.map(\.ownBytes).checkedSum() else {
            throw ClusteringError(.invalidArgument, "the tasks' sizes overflow")
        }
        if ownTotal <= budget { return try await ownAdapters(tasks, budget: budget) }
        var (prepared, joint) = try bestGrouping(tasks, budget: budget, progress: progress)
        var truncated = try truncateOnly(prepared, budget: budget)
        if truncated == nil, tasks.count > 1 {
            // Truncate-only on its own groups, when the joint allocation's groups hold none.
            let exact = try prepare(tasks, budget: budget, exactProfiles: true)
            if let fits = try truncateOnly(exact, budget: budget), fits.value > joint.value + 1e-9 {
                (prepared, joint, truncated) = (exact, fits, fits)
            }
        }
        let allocator = RankAllocatingPlanner(evaluator: evaluator, storageDType: storageDType, merger: makeMerger)
        var (parts, evaluations) = try await groupParts(prepared, joint: joint, budget: budget, allocator: allocator,
                                                        progress: progress)
        // A joint plan that merges nothing is truncate-only (the allocation chose it).
        var policy: JointPlan.Policy = parts.allSatisfy({ $0.plan.clusters.allSatisfy { $0.members.count == 1 } })
            ? .truncateOnly : .joint
        var truncateOnlyMean: Double?
        if let truncated {
            if truncated.clusterings == joint.clusterings, parts.allSatisfy({ $0.plan.clusters.allSatisfy { $0.members.count == 1 } }) {
                truncateOnlyMean = parts.reduce(0) { $0 + Self.sum($1.plan) } / Double(tasks.count)
            } else {
                let (truncatedParts, more) = try await materialise(truncated, of: prepared, budget: budget)
                evaluations += more
                let truncatedSum = truncatedParts.reduce(0) { $0 + Self.sum($1.plan) }
                truncateOnlyMean = truncatedSum / Double(tasks.count)
                // A plan that merges must win by more than one example can move a score.
                let margin = policy == .joint ? tasks.map { evaluator.exampleWeight(for: $0) }.max() ?? 0 : 0
                if truncatedSum + margin > parts.reduce(0, { $0 + Self.sum($1.plan) }) + 1e-9 {
                    parts = truncatedParts
                    policy = .truncateOnly
                }
            }
        }
        let total = parts.reduce(0) { $0 + $1.plan.totalBytes }
        guard total <= budget else {
            throw ClusteringError(.mergeFailed,
                "the served adapters take \(BudgetPlanner.format(bytes: total)), over the budget of "
                + "\(BudgetPlanner.format(bytes: budget))")
        }
        progress?(1, "planned \(parts.reduce(0) { $0 + $1.plan.clusters.count }) served adapters (\(policy.rawValue))")
        return JointPlan(groups: parts, policy: policy, evaluatorName: evaluator.name,
                         truncateOnlyMeanQuality: truncateOnlyMean, evaluations: evaluations)
    }

    /// Every task's own adapter fits: each group planned by the refiner with its own adapters.
    private func ownAdapters(_ tasks: [TaskProfile], budget: Int) async throws -> JointPlan {
        var groups: [JointPlan.Group] = []
        for group in MergeableGroups.form(tasks) {
            let planner = try BudgetPlanner(tasks: group.tasks, dtype: storageDType, sizer: sizer)
            let plan = try await ClusterRefiner(evaluator: evaluator, merger: try makeMerger(group.tasks, storageDType))
                .plan(tasks: group.tasks, budget: budget, planner: planner)
            groups.append(JointPlan.Group(indices: group.indices, padded: group.padded, plan: plan))
        }
        return JointPlan(groups: groups, policy: .ownAdapters, evaluatorName: evaluator.name,
                         truncateOnlyMeanQuality: nil, evaluations: 0)
    }

    /// Each group's part of the joint allocation, scored by the evaluator; and the group planned on
    /// its own within its bytes (its allocation plus its part of what is left), if that scores better.
    private func groupParts(_ prepared: [PreparedGroup], joint: Allocation, budget: Int, allocator: RankAllocatingPlanner,
                            progress: Progress?) async throws -> (parts: [JointPlan.Group], evaluations: Int) {
        var evaluations = 0
        let leftover = budget - joint.totalBytes
        let allocated = joint.candidates.map(\.totalBytes)
        let allocatedTotal = max(1, allocated.reduce(0, +))
        var parts: [JointPlan.Group] = []
        for (g, group) in prepared.enumerated() {
            let candidate = joint.candidates[g]
            let share = allocated[g] + Int(Double(leftover) * Double(allocated[g]) / Double(allocatedTotal))
            progress?(0.3 + 0.5 * Double(g) / Double(prepared.count),
                      "group \(g + 1): \(candidate.clusterCount) served adapter\(candidate.clusterCount == 1 ? "" : "s"), "
                      + "ranks \(candidate.ranks), \(BudgetPlanner.format(bytes: candidate.totalBytes))")
            var best = try await allocator.plan(candidate: candidate, tasks: group.group.tasks, budget: share,
                                                planner: group.planner, options: options, similarity: group.similarity,
                                                book: group.book)
            evaluations += best.evaluations
            let ownTotal = group.group.tasks.reduce(0) { $0 + $1.ownBytes }
            if group.group.tasks.count > 1, ownTotal > share {
                do {
                    let start = 0.3 + 0.5 * Double(g) / Double(prepared.count)
                    let alone = try await allocator.plan(tasks: group.group.tasks, budget: share, planner: group.planner,
                                                         options: options, similarity: group.similarity, book: group.book) {
                        fraction, message in progress?(start + 0.5 * fraction / Double(prepared.count), message)
                    }
                    evaluations += alone.evaluations
                    if alone.totalBytes <= share, Self.sum(alone) > Self.sum(best) + 1e-9 { best = alone }
                } catch let error as ClusteringError where error.code == .budgetTooSmall {
                    // The group's bytes hold fewer adapters than its own plan needs: keep the joint part.
                }
            }
            parts.append(JointPlan.Group(indices: group.group.indices, padded: group.group.padded, plan: best))
        }
        return (parts, evaluations)
    }

    /// An allocation's groups (`allocate`, `truncateOnly`), each merged at its ranks and scored by the
    /// evaluator.
    public func materialise(_ allocation: Allocation, of prepared: [PreparedGroup],
                            budget: Int) async throws -> (parts: [JointPlan.Group], evaluations: Int) {
        let allocator = RankAllocatingPlanner(evaluator: evaluator, storageDType: storageDType, merger: makeMerger)
        var parts: [JointPlan.Group] = []
        var evaluations = 0
        for (g, group) in prepared.enumerated() {
            let plan = try await allocator.plan(candidate: allocation.candidates[g], tasks: group.group.tasks,
                                                budget: budget, planner: group.planner, options: options,
                                                similarity: group.similarity, book: group.book)
            evaluations += plan.evaluations
            parts.append(JointPlan.Group(indices: group.group.indices, padded: group.group.padded, plan: plan))
        }
        return (parts, evaluations)
    }

    /// The groups `plan` served (the same members, padded as it padded them), each with the given
    /// candidate clusterings only (`clusterings[g]`: clusterings of group g, each a list of clusters
    /// of indices into the group's tasks) — a baseline's, such as random ones, to be allocated
    /// (`allocate`) and served (`materialise`) as the planner's own are.
    public func prepare(_ tasks: [TaskProfile], like plan: JointPlan, clusterings: [[[[Int]]]]) throws -> [PreparedGroup] {
        let allocator = RankAllocatingPlanner(evaluator: WeightSpaceEvaluator(), storageDType: storageDType)
        return try plan.groups.enumerated().map { g, served in
            let members = served.indices.map { tasks[$0] }
            let group = MergeableGroups.Group(indices: served.indices,
                                              tasks: served.padded ? try ModuleUnionPadding.pad(members) : members,
                                              padded: served.padded)
            let planner = try BudgetPlanner(tasks: group.tasks, dtype: storageDType, sizer: sizer)
            let similarity = try TaskSimilarity.of(group.tasks, given: nil, progress: nil)
            var book = RankAllocatingPlanner.CurveBook()
            let choices = try clusterings[g].map { clusters in
                try allocator.choices(clusters: clusters.filter { !$0.isEmpty }, tasks: group.tasks, planner: planner,
                                      options: options, similarity: similarity, book: &book)
            }
            return PreparedGroup(group: group, planner: planner, similarity: similarity, clusterings: choices, book: book)
        }
    }

    /// Σ of a plan's tasks' retained quality.
    static func sum(_ plan: ClusterPlan) -> Double { plan.tasks.reduce(0) { $0 + $1.quality } }
}
