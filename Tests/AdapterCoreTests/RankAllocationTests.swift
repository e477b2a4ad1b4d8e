import Synchronization
import Testing
@testable import AdapterCore

@Suite struct RankAllocationTests {
    /// File size stand-in: a fixed header plus the tensors in the dtype.
    static let sizer: BudgetPlanner.Sizer = { adapter, dtype in
        200 + adapter.modules.reduce(0) { $0 + $1.rank * ($1.inFeatures + $1.outFeatures) * dtype.byteSize }
    }
    static let width = 24
    static let shapes = SyntheticTasks.shapes(layers: 2, width: width)

    /// A task whose update in every module has singular values `spectrum` along basis directions
    /// starting at `offset` (tasks with different offsets are orthogonal).
    static func task(_ name: String, spectrum: [Double], offset: Int) -> TaskProfile {
        let rank = spectrum.count
        let modules = shapes.map { shape -> LoRAModule in
            var a = Matrix(zeros: rank, shape.inFeatures)
            var b = Matrix(zeros: shape.outFeatures, rank)
            for (j, sigma) in spectrum.enumerated() {
                a.elements[j * shape.inFeatures + (offset + j) % shape.inFeatures] = 1
                b.elements[((offset + j) % shape.outFeatures) * rank + j] = sigma
            }
            return SyntheticTasks.module(shape, a: a, b: b)
        }
        let adapter = SyntheticTasks.adapter(modules, rank: rank)
        return TaskProfile(name: name, version: 1, adapter: adapter, ownBytes: (try? sizer(adapter, .f16)) ?? 0)
    }

    static func planner(_ tasks: [TaskProfile]) throws -> BudgetPlanner {
        try BudgetPlanner(tasks: tasks, sizer: sizer)
    }

    // MARK: The curve

    @Test func curveIsTheWeightSpaceScoreOfTheMergeAtEveryRank() throws {
        let (tasks, _) = SyntheticTasks.families(families: 2, perFamily: 2, noise: 0.6, seed: 3, scaleSpread: 1)
        let members = [0, 1, 3]
        let adapters = members.map { tasks[$0].adapter }
        let weights = MergeWeighting.uniform.weights(norms: adapters.map { FactoredUpdates.normSquared($0).squareRoot() })
        let curve = try RankQualityCurve.compute(members: members, adapters: adapters, weights: weights, maximumRank: 10)
        #expect(curve.maximumRank == 10)
        var previous = -1.0
        for rank in 1...10 {
            let merged = try SVDClusterMerger().merge(adapters, weights: weights, rank: rank)
            for (m, adapter) in adapters.enumerated() {
                let direct = WeightSpaceEvaluator.score(own: adapter, candidate: merged)
                #expect(abs(curve.quality(rank: rank)[m] - direct) < 1e-9, "rank \(rank), member \(m)")
            }
            previous = curve.total(rank: rank)
        }
        #expect(previous > 0)
        // A task alone at its own rank is exact; truncated it loses what its smaller directions held.
        let single = try RankQualityCurve.compute(members: [0], adapters: [Self.task("x", spectrum: [2, 1, 1, 1], offset: 0).adapter],
                                                  weights: [1], maximumRank: 4)
        #expect(abs(single.quality(rank: 4)[0] - 1) < 1e-12)
        #expect(abs(single.quality(rank: 1)[0] - 4.0 / 7) < 1e-12)   // energy 2² of 2² + 1 + 1 + 1
    }

    // MARK: The greedy allocation

    @Test func allocationTakesTheJumpWhereQualityArrivesLate() throws {
        // Cluster 0 gains nothing until rank 4 (then everything); cluster 1 gains a little per rank.
        let late: [RankAllocation.Choice] = (1...4).map { .init(rank: $0, bytes: 100 * $0, value: $0 == 4 ? 1 : 0) }
        let steady: [RankAllocation.Choice] = (1...4).map { .init(rank: $0, bytes: 100 * $0, value: 0.1 * Double($0)) }
        let picked = try RankAllocation.allocate(choices: [late, steady], budget: 500)
        #expect(picked == [3, 0])   // rank 4 and rank 1: 500 bytes, value 1.1 (one step at a time gives 0.4)
        #expect(try RankAllocation.allocate(choices: [late, steady], budget: 300) == [0, 1])
    }

    @Test func bytesTheScoresCannotUseStillKeepMoreRank() throws {
        // Scores that saturate (a few examples all answered right from rank 2 on): no upgrade past rank 2
        // gains anything, yet the budget holds more. It goes, one rank step at a time, to the cluster
        // that keeps the smallest share of its largest rank; a step that loses score is never taken.
        let saturating: [RankAllocation.Choice] = [1, 2, 4, 8].map { .init(rank: $0, bytes: 100 * $0, value: $0 == 1 ? 0.5 : 1) }
        let small: [RankAllocation.Choice] = [1, 2, 4].map { .init(rank: $0, bytes: 100 * $0, value: $0 == 1 ? 0.9 : 1) }
        let dipping: [RankAllocation.Choice] = [1, 2].map { .init(rank: $0, bytes: 100 * $0, value: $0 == 1 ? 1 : 0.99) }
        // 1000 bytes: rank 2 for both (400) is all the scores ask for; then the first goes 2 → 4 (it keeps
        // 2 of 8 ranks, the second 2 of 4) and, tied at one half, the lower index again: 4 → 8.
        #expect(try RankAllocation.allocate(choices: [saturating, small], budget: 1000) == [3, 1])
        #expect(try RankAllocation.allocate(choices: [saturating, small], budget: 800) == [2, 2])
        // With no bytes to spare nothing changes; a step that would lose score is not taken.
        #expect(try RankAllocation.allocate(choices: [saturating, small], budget: 400) == [1, 1])
        #expect(try RankAllocation.allocate(choices: [dipping], budget: 1000) == [0])
        // A cluster served by its own file is left as it is.
        let own: [RankAllocation.Choice] = [.init(rank: 1, bytes: 100, value: 0.5), .init(rank: 4, bytes: 450, value: 1, usesOwnAdapter: true)]
        #expect(try RankAllocation.allocate(choices: [own], budget: 2000) == [1])
    }

    @Test func allocationNeverExceedsTheBudget() throws {
        var g = SeededGenerator(seed: 11)
        for _ in 0..<50 {
            let choices: [[RankAllocation.Choice]] = (0..<5).map { _ in
                var value = 0.0
                return (1...6).map { rank in
                    value += g.nextUnitDouble()
                    return .init(rank: rank, bytes: 50 + 37 * rank + Int(g.next() % 20), value: value)
                }
            }
            let cheapest = choices.reduce(0) { $0 + ($1.map(\.bytes).min() ?? 0) }
            let budget = cheapest + Int(g.next() % 900)
            let picked = try RankAllocation.allocate(choices: choices, budget: budget)
            let spent = zip(choices, picked).reduce(0) { $0 + $1.0[$1.1].bytes }
            #expect(spent <= budget)
            // Nothing that fits is left on the table: no single upgrade fits what remains.
            for (c, options) in choices.enumerated() {
                for option in options where option.value > options[picked[c]].value {
                    #expect(option.bytes - options[picked[c]].bytes > budget - spent)
                }
            }
        }
        #expect(throws: ClusteringError.self) {
            try RankAllocation.allocate(choices: [[.init(rank: 1, bytes: 10, value: 1)]], budget: 9)
        }
    }

    // MARK: The planner

    @Test func givesRankWhereItMattersNotUniformly() async throws {
        // One task needs all of its 4 directions; three keep almost all at rank 1. All own rank 4.
        let tasks = [Self.task("wide", spectrum: [1, 1, 1, 1], offset: 0),
                     Self.task("narrow-a", spectrum: [1, 0.02, 0.02, 0.02], offset: 4),
                     Self.task("narrow-b", spectrum: [1, 0.02, 0.02, 0.02], offset: 8),
                     Self.task("narrow-c", spectrum: [1, 0.02, 0.02, 0.02], offset: 12)]
        let planner = try Self.planner(tasks)
        let budget = 3 * (try planner.mergedBytes(rank: 1)) + (try planner.mergedBytes(rank: 4))
        #expect(tasks.reduce(0) { $0 + $1.ownBytes } > budget)
        // One rank for all: 4 adapters fit only at rank 1, where "wide" keeps 1 − √¾.
        let uniform = try planner.decide(tasks: RankAllocatingPlanner.sizes(tasks), budget: budget, mergedRank: 2)
        #expect(uniform.clusterCount < 4)

        let plan = try await RankAllocatingPlanner().plan(tasks: tasks, budget: budget, planner: planner)
        #expect(plan.clusters.count == 4)
        let rankOf = Dictionary(uniqueKeysWithValues: plan.clusters.map { ($0.members[0], $0.rank) })
        #expect(rankOf == ["wide": 4, "narrow-a": 1, "narrow-b": 1, "narrow-c": 1])
        #expect(plan.tasks.first { $0.name == "wide" }!.quality > 0.999)
        #expect(plan.worstQuality > 0.95)
        // Bytes: exactly the planner's sizes, within the budget.
        #expect(plan.totalBytes <= budget)
        for cluster in plan.clusters {
            #expect(cluster.bytes == (try Self.sizer(cluster.adapter, .f16)))
            if !cluster.usesOwnAdapter { #expect(cluster.bytes == (try planner.mergedBytes(rank: cluster.rank))) }
        }
        // Reported quality is the weight-space score of the adapter actually served.
        for outcome in plan.tasks {
            let task = tasks.first { $0.name == outcome.name }!
            let served = plan.clusters[outcome.cluster].adapter
            #expect(abs(outcome.quality - WeightSpaceEvaluator.score(own: task.adapter, candidate: served)) < 1e-9)
        }
    }

    @Test func mergesWhenFewerClustersKeepMore() async throws {
        // Two pairs of identical tasks: two merged adapters at rank 4 keep everything; four adapters
        // would have to share the same bytes at lower ranks.
        let tasks = [Self.task("p1", spectrum: [1, 1, 1, 1], offset: 0),
                     Self.task("p2", spectrum: [1, 1, 1, 1], offset: 0),
                     Self.task("q1", spectrum: [1, 1, 1, 1], offset: 10),
                     Self.task("q2", spectrum: [1, 1, 1, 1], offset: 10)]
        let planner = try Self.planner(tasks)
        let budget = 2 * (try planner.mergedBytes(rank: 4))
        let plan = try await RankAllocatingPlanner().plan(tasks: tasks, budget: budget, planner: planner)
        #expect(Set(plan.clusters.map { Set($0.members) }) == [["p1", "p2"], ["q1", "q2"]])
        #expect(plan.clusters.allSatisfy { $0.rank == 4 })
        #expect(plan.meanQuality > 0.999)
        #expect(plan.totalBytes <= budget)
    }

    @Test func anotherEvaluatorChoosesAmongAFewPlans() async throws {
        let (tasks, _) = SyntheticTasks.families(families: 3, perFamily: 3, noise: 0.5, seed: 5)
        let planner = try Self.planner(tasks)
        let budget = tasks.reduce(0) { $0 + $1.ownBytes } / 4
        let n = tasks.count
        // Choosing among 2 plans: the own adapters and at most one score per task and plan.
        let choosing = CountingEvaluator()
        let only = try await RankAllocatingPlanner(evaluator: choosing).plan(
            tasks: tasks, budget: budget, planner: planner,
            options: .init(evaluatedPlans: 2, ranksByScores: false, refinementRounds: 0))
        #expect(only.evaluations == choosing.calls.withLock { $0 })
        #expect(only.evaluations <= n + 2 * n)
        #expect(only.evaluations > n)
        // Ranks re-allocated by the scores (ranks 1, 2, 4 of rank-4 tasks): at most 3 more per task,
        // and never worse than the plan chosen without it.
        let counting = CountingEvaluator()
        let options = RankAllocatingPlanner.Options(evaluatedPlans: 2, refinementRounds: 0)
        let plan = try await RankAllocatingPlanner(evaluator: counting).plan(
            tasks: tasks, budget: budget, planner: planner, options: options)
        #expect(plan.evaluations == counting.calls.withLock { $0 })
        #expect(plan.evaluations <= n + 2 * n + 3 * n)
        #expect(plan.evaluations > only.evaluations)
        #expect(plan.meanQuality >= only.meanQuality - 1e-12)
        #expect(plan.evaluatorName == counting.name)
        #expect(plan.totalBytes <= budget)
        // Deterministic: the same plan again.
        let again = try await RankAllocatingPlanner(evaluator: counting).plan(
            tasks: tasks, budget: budget, planner: planner, options: options)
        #expect(again.clusters.map(\.members) == plan.clusters.map(\.members))
        #expect(again.clusters.map(\.rank) == plan.clusters.map(\.rank))
        #expect(again.tasks == plan.tasks)
    }

    /// A plan made with the book of a candidate already served (the joint part of a group, then the
    /// group planned within its bytes) scores only what that did not: the same plan as with a fresh
    /// book, with the candidate's scores taken from the book.
    @Test func aPlanWithTheBookOfACandidateScoresOnlyWhatIsNew() async throws {
        let (tasks, _) = SyntheticTasks.families(families: 3, perFamily: 3, noise: 0.5, seed: 5)
        let planner = try Self.planner(tasks)
        let budget = tasks.reduce(0) { $0 + $1.ownBytes } / 4
        let options = RankAllocatingPlanner.Options(evaluatedPlans: 2, ranksByScores: false, refinementRounds: 0)
        let similarity = try TaskSimilarity.compute(names: tasks.map(\.name), adapters: tasks.map(\.adapter))
        let alone = try await RankAllocatingPlanner(evaluator: CountingEvaluator()).plan(
            tasks: tasks, budget: budget, planner: planner, options: options, similarity: similarity)

        let counting = CountingEvaluator()
        let allocator = RankAllocatingPlanner(evaluator: counting)
        var book = RankAllocatingPlanner.CurveBook()
        let candidates = try allocator.candidates(tasks: tasks, budget: budget, planner: planner, options: options,
                                                  similarity: similarity, book: &book)
        let best = try #require(candidates.min {
            $0.meanQuality > $1.meanQuality + 1e-12
                || (abs($0.meanQuality - $1.meanQuality) <= 1e-12 && $0.clusterCount < $1.clusterCount)
        })
        let part = try await allocator.plan(candidate: best, tasks: tasks, budget: budget, planner: planner,
                                            options: options, similarity: similarity, book: book)
        #expect(part.clusters.contains { $0.members.count > 1 })
        let before = counting.calls.withLock { $0 }
        let shared = try await allocator.plan(tasks: tasks, budget: budget, planner: planner, options: options,
                                              similarity: similarity, book: book)
        #expect(shared.clusters.map(\.members) == alone.clusters.map(\.members))
        #expect(shared.clusters.map(\.rank) == alone.clusters.map(\.rank))
        #expect(shared.tasks == alone.tasks)
        #expect(shared.evaluations == counting.calls.withLock { $0 } - before)
        #expect(shared.evaluations == alone.evaluations - part.evaluations)
    }

    /// The merge cache of a joint plan's book holds a whole served set of the budget in doubles.
    @Test func aJointPlansMergeCacheHoldsAServedSetOfItsBudget() {
        typealias Book = RankAllocatingPlanner.CurveBook
        #expect(Book(servedSetOf: 1 << 30, storedAs: .f16).served.byteLimit == 4 << 30)
        #expect(Book(servedSetOf: 1 << 30, storedAs: .bf16).served.byteLimit == 4 << 30)
        #expect(Book(servedSetOf: 1 << 30, storedAs: .f32).served.byteLimit == 2 << 30)
        #expect(Book(servedSetOf: 1 << 20, storedAs: .f16).served.byteLimit == ServedMergeCache.defaultByteLimit)
        #expect(Book(servedSetOf: .max, storedAs: .f16).served.byteLimit == .max)
    }

    /// Scores like the weight-space evaluator, except that `fragile` loses almost everything unless
    /// served whole (its score to the 8th power): what weights cannot tell.
    struct FragileTaskEvaluator: Evaluator {
        let fragile: String
        var name: String { "fragile" }
        func score(task: TaskProfile, candidate: LoRAAdapter) async throws -> Double {
            let s = WeightSpaceEvaluator.score(own: task.adapter, candidate: candidate)
            guard task.name == fragile else { return s }
            let s2 = s * s, s4 = s2 * s2
            return s4 * s4
        }
    }

    @Test func ranksFollowTheEvaluatorsScoresWhereWeightsMislead() async throws {
        // By weights, "even" (4 equal directions) gains most from rank 4; by the evaluator, "fragile"
        // does. The budget holds one rank-4 and one rank-1 adapter.
        let tasks = [Self.task("even", spectrum: [1, 1, 1, 1], offset: 0),
                     Self.task("fragile", spectrum: [1, 0.5, 0.5, 0.5], offset: 8)]
        let planner = try Self.planner(tasks)
        let budget = (try planner.mergedBytes(rank: 1)) + (try planner.mergedBytes(rank: 4))
        let evaluator = FragileTaskEvaluator(fragile: "fragile")
        func ranks(_ plan: ClusterPlan) -> [String: Int] {
            Dictionary(uniqueKeysWithValues: plan.clusters.flatMap { c in c.members.map { ($0, c.rank) } })
        }
        let byWeights = try await RankAllocatingPlanner(evaluator: evaluator).plan(
            tasks: tasks, budget: budget, planner: planner, options: .init(ranksByScores: false))
        #expect(ranks(byWeights) == ["even": 4, "fragile": 1])
        let byScores = try await RankAllocatingPlanner(evaluator: evaluator).plan(
            tasks: tasks, budget: budget, planner: planner)
        #expect(ranks(byScores) == ["even": 1, "fragile": 4])
        #expect(byScores.meanQuality > byWeights.meanQuality + 0.05)
        #expect(byScores.totalBytes <= budget)
    }

    /// Scores like the weight-space evaluator, except for `loner`, whose examples are really of the
    /// kind `ally` serves (its own adapter is a poor fit, the weights put it with another family): it
    /// scores 0.5 plus half of what a candidate keeps of `ally`'s update. What weights cannot tell.
    struct MisplacedTaskEvaluator: Evaluator {
        let loner: String
        let ally: TaskProfile
        var name: String { "misplaced" }
        func score(task: TaskProfile, candidate: LoRAAdapter) async throws -> Double {
            guard task.name == loner else { return WeightSpaceEvaluator.score(own: task.adapter, candidate: candidate) }
            return 0.5 + 0.5 * max(0, WeightSpaceEvaluator.score(own: ally.adapter, candidate: candidate))
        }
    }

    @Test func theChosenAssignmentIsRefinedByTheEvaluatorsScores() async throws {
        let (tasks, _) = SyntheticTasks.families(families: 3, perFamily: 3, noise: 0.5, seed: 5)
        let planner = try Self.planner(tasks)
        let budget = tasks.reduce(0) { $0 + $1.ownBytes } / 4
        // A task in a merged cluster of at least 3 by weights, and an ally in another merged cluster.
        let plain = try await RankAllocatingPlanner().plan(tasks: tasks, budget: budget, planner: planner,
                                                           options: .init(refinementRounds: 0))
        let merged = plain.clusters.filter { $0.members.count >= 3 && !$0.usesOwnAdapter }
        try #require(merged.count >= 2)
        let loner = merged[0].members[0]
        let ally = try #require(tasks.first { $0.name == merged[1].members[0] })
        let evaluator = MisplacedTaskEvaluator(loner: loner, ally: ally)
        func withAlly(_ plan: ClusterPlan) -> Bool {
            plan.clusters.contains { $0.members.contains(loner) && $0.members.contains(ally.name) }
        }
        // Without refinement the evaluator only chooses among k-medoids plans: the loner stays apart.
        let unrefined = try await RankAllocatingPlanner(evaluator: evaluator).plan(
            tasks: tasks, budget: budget, planner: planner, options: .init(ranksByScores: false, refinementRounds: 0))
        let startsWithAlly = withAlly(unrefined)
        try #require(!startsWithAlly)
        #expect(unrefined.rounds == 0)
        // Refinement moves it by the scores, to the ally's cluster.
        let refined = try await RankAllocatingPlanner(evaluator: evaluator).plan(
            tasks: tasks, budget: budget, planner: planner, options: .init(ranksByScores: false))
        let endsWithAlly = withAlly(refined)
        #expect(endsWithAlly)
        #expect(refined.rounds >= 1)
        #expect(refined.meanQuality > unrefined.meanQuality + 0.01)
        #expect(refined.totalBytes <= budget)
        #expect(refined.tasks.count == tasks.count)
        // With the weight-space evaluator the same refinement finds nothing to move here.
        let byWeights = try await RankAllocatingPlanner().plan(tasks: tasks, budget: budget, planner: planner)
        #expect(byWeights.clusters.map(\.members) == plain.clusters.map(\.members))
    }

    @Test func aMergeDropsModulesNoMemberAdapts() async throws {
        // Two tasks adapt only q_proj (padded with exact zeros to the profile's q+v), one adapts both.
        func qOnly(_ name: String, offset: Int) -> TaskProfile {
            let full = Self.task(name, spectrum: [1, 0.5], offset: offset).adapter
            let modules = full.modules.filter { $0.name.hasSuffix("q_proj") }
            var config = full.config
            config.targetModules = ["q_proj"]
            let adapter = LoRAAdapter(config: config, modules: modules, architecture: full.architecture,
                                      storageDType: .f16, tensorBytes: 0)
            return TaskProfile(name: name, version: 1, adapter: adapter, ownBytes: (try? Self.sizer(adapter, .f16)) ?? 0)
        }
        let tasks = try ModuleUnionPadding.pad([qOnly("qa", offset: 0), qOnly("qb", offset: 6),
                                                Self.task("qv", spectrum: [1, 0.5], offset: 12)])
        let planner = try Self.planner(tasks)
        let similarity = try TaskSimilarity.compute(names: tasks.map(\.name), adapters: tasks.map(\.adapter))
        let allocator = RankAllocatingPlanner()
        var book = RankAllocatingPlanner.CurveBook()
        let budget = 2 * (try planner.mergedBytes(rank: 2))
        let candidate = try allocator.allocate(clusters: [[0, 1], [2]], tasks: tasks, budget: budget, planner: planner,
                                               similarity: similarity, book: &book)
        let plan = try await allocator.plan(candidate: candidate, tasks: tasks, budget: budget, planner: planner,
                                            similarity: similarity)
        let merged = plan.clusters[0]
        #expect(merged.members == ["qa", "qb"] && !merged.usesOwnAdapter)
        #expect(merged.adapter.modules.allSatisfy { $0.name.hasSuffix("q_proj") })
        #expect(merged.adapter.modules.count == 2)
        #expect(merged.adapter.config.targetModules == ["q_proj"])
        // Its size is the planned one, and smaller than a merge of every module at its rank.
        #expect(merged.bytes == (try Self.sizer(merged.adapter, .f16)))
        #expect(merged.bytes == candidate.choices[0].bytes)
        #expect(merged.bytes < (try planner.mergedBytes(rank: merged.rank)))
        #expect(plan.totalBytes <= budget)
        // Nothing is lost by leaving the zero modules out.
        let untrimmed = try SVDClusterMerger().merge([tasks[0].adapter, tasks[1].adapter], weights: [0.5, 0.5],
                                                     rank: merged.rank)
        for task in tasks.prefix(2) {
            #expect(abs(WeightSpaceEvaluator.score(own: task.adapter, candidate: merged.adapter)
                        - WeightSpaceEvaluator.score(own: task.adapter, candidate: untrimmed)) < 1e-12)
        }
    }

    @Test func aBudgetBelowOneRankOneAdapterIsRefused() async throws {
        let tasks = [Self.task("a", spectrum: [1, 1], offset: 0), Self.task("b", spectrum: [1, 1], offset: 3)]
        let planner = try Self.planner(tasks)
        let minimal = try planner.mergedBytes(rank: 1)
        await #expect(throws: ClusteringError.self) {
            _ = try await RankAllocatingPlanner().plan(tasks: tasks, budget: minimal - 1, planner: planner)
        }
        let one = try await RankAllocatingPlanner().plan(tasks: tasks, budget: minimal, planner: planner)
        #expect(one.clusters.count == 1)
        #expect(one.totalBytes <= minimal)
    }

    @Test func clusterCountsAreSpreadOverTheRange() {
        #expect(RankAllocatingPlanner.clusterCounts(maximum: 5, limit: 64) == [1, 2, 3, 4, 5])
        let spread = RankAllocatingPlanner.clusterCounts(maximum: 200, limit: 10)
        #expect(spread.first == 1 && spread.last == 200 && spread.count == 10)
        #expect(RankAllocatingPlanner.clusterCounts(maximum: 0, limit: 10).isEmpty)
    }

    @Test func theSearchOverKIsCoarseThenFineAroundTheBest() async throws {
        let grid = Array(1...20)
        let coarse = RankAllocatingPlanner.coarseCounts(grid, coarse: 5)
        #expect(coarse.count == 5 && coarse.first == 1 && coarse.last == 20)
        #expect(RankAllocatingPlanner.coarseCounts(grid, coarse: 64) == grid)
        // Around the best coarse count: every count strictly between its neighbours, none tried twice.
        #expect(RankAllocatingPlanner.fineCounts(grid, tried: [1, 6, 10, 15, 20], best: 10) == [7, 8, 9, 11, 12, 13, 14])
        #expect(RankAllocatingPlanner.fineCounts(grid, tried: [1, 6, 10, 15, 20], best: 1) == [2, 3, 4, 5])
        #expect(RankAllocatingPlanner.fineCounts(grid, tried: [1, 6, 10, 15, 20], best: 20) == [16, 17, 18, 19])
        // On families with a clear best K, coarse to fine finds the plan that trying every K finds,
        // from fewer candidates.
        let (tasks, _) = SyntheticTasks.families(families: 4, perFamily: 5, noise: 0.3, seed: 9)
        let planner = try Self.planner(tasks)
        let budget = tasks.reduce(0) { $0 + $1.ownBytes } / 6
        let similarity = try TaskSimilarity.compute(names: tasks.map(\.name), adapters: tasks.map(\.adapter))
        var book = RankAllocatingPlanner.CurveBook()
        let every = try RankAllocatingPlanner().candidates(
            tasks: tasks, budget: budget, planner: planner, options: .init(exhaustiveClusterCounts: 24),
            similarity: similarity, book: &book)
        let stepped = try RankAllocatingPlanner().candidates(
            tasks: tasks, budget: budget, planner: planner, options: .init(exhaustiveClusterCounts: 1, coarseClusterCounts: 4),
            similarity: similarity, book: &book)
        #expect(stepped.count < every.count)
        let bestOfEvery = try #require(every.map(\.meanQuality).max())
        let bestOfStepped = try #require(stepped.map(\.meanQuality).max())
        #expect(abs(bestOfEvery - bestOfStepped) < 1e-12)
    }
}
