import Testing
@testable import AdapterCore

/// The joint allocation across groups of different module sets (issue 18).
@Suite struct JointBudgetPlannerTests {
    static let sizer = RankAllocationTests.sizer
    static let width = 64

    /// A task adapting `projections` in 2 layers, each module's update with singular values `spectrum`
    /// along basis directions starting at `offset` (tasks with different offsets are orthogonal).
    static func task(_ name: String, base: String, projections: [String], spectrum: [Double], offset: Int) -> TaskProfile {
        let rank = spectrum.count
        let shapes = (0..<2).flatMap { layer in
            projections.map { SyntheticTasks.Shape(name: "model.layers.\(layer).self_attn.\($0)", inFeatures: width, outFeatures: width) }
        }
        let modules = shapes.map { shape -> LoRAModule in
            var a = Matrix(zeros: rank, shape.inFeatures)
            var b = Matrix(zeros: shape.outFeatures, rank)
            for (j, sigma) in spectrum.enumerated() {
                a.elements[j * shape.inFeatures + (offset + j) % shape.inFeatures] = 1
                b.elements[((offset + j) % shape.outFeatures) * rank + j] = sigma
            }
            return SyntheticTasks.module(shape, a: a, b: b)
        }
        var adapter = SyntheticTasks.adapter(modules, rank: rank, baseModel: base)
        var config = adapter.config
        config.targetModules = projections
        adapter = LoRAAdapter(config: config, modules: adapter.modules, architecture: adapter.architecture,
                              storageDType: .f16, tensorBytes: adapter.tensorBytes)
        return TaskProfile(name: name, version: 1, adapter: adapter, ownBytes: (try? sizer(adapter, .f16)) ?? 0)
    }

    static let qv = ["q_proj", "v_proj"]
    static let qkvo = ["q_proj", "k_proj", "v_proj", "o_proj"]

    /// Six q+v tasks whose updates truncate well and merge badly (orthogonal), and two q+k+v+o tasks,
    /// of two base models (so never merged across), as the MiniLM corpus of issue 18 has them.
    static func twoGroups() -> [TaskProfile] {
        (0..<6).map { task("qv\($0)", base: "base/qv", projections: qv, spectrum: spectrum, offset: 8 * $0) }
            + (0..<2).map { task("qkvo\($0)", base: "base/qkvo", projections: qkvo, spectrum: spectrum, offset: 8 * $0) }
    }

    /// Rank 8, most of the energy in the first directions (as trained adapters have it).
    static let spectrum = [1, 0.3, 0.2, 0.1, 0.05, 0.05, 0.03, 0.02]

    static func sum(_ plan: ClusterPlan) -> Double { plan.tasks.reduce(0) { $0 + $1.quality } }

    /// The previous daemon policy: a fixed share per group (one merged adapter at the largest rank
    /// first), each group planned on its own within it.
    static func fixedSharePlans(_ tasks: [TaskProfile], budget: Int) async throws -> [ClusterPlan] {
        let groups = MergeableGroups.form(tasks)
        let planners = try groups.map { try BudgetPlanner(tasks: $0.tasks, sizer: sizer) }
        let own = groups.map { $0.tasks.reduce(0) { $0 + $1.ownBytes } }
        let minimum = try zip(groups, planners).enumerated().map { i, pair in
            min(own[i], try pair.1.mergedBytes(rank: pair.0.tasks.map { $0.adapter.config.r }.max() ?? 1))
        }
        let shares = JointBudgetPlanner.fixedShares(budget: budget, own: own, minimum: minimum)
        var plans: [ClusterPlan] = []
        for (g, group) in groups.enumerated() {
            plans.append(try await RankAllocatingPlanner().plan(tasks: group.tasks, budget: shares[g], planner: planners[g]))
        }
        return plans
    }

    @Test func theJointAllocationBeatsFixedSharesAndIsNeverBelowTruncateOnly() async throws {
        let tasks = Self.twoGroups()
        let own = tasks.reduce(0) { $0 + $1.ownBytes }
        let planner = JointBudgetPlanner(sizer: Self.sizer)
        for divisor in [3, 4, 6] {
            let budget = own / divisor
            let joint = try await planner.plan(tasks: tasks, budget: budget)
            #expect(joint.totalBytes <= budget)
            #expect(joint.taskCount == tasks.count)
            #expect(joint.groups.count == 2)
            // Every task routed once, and no served adapter mixes base models.
            #expect(Set(joint.groups.flatMap { $0.plan.tasks.map(\.name) }) == Set(tasks.map(\.name)))
            for group in joint.groups {
                let bases = Set(group.indices.map { tasks[$0].adapter.config.baseModelNameOrPath })
                #expect(bases.count == 1)
            }
            // Never below truncate-only at the same bytes, by the evaluator's own score.
            let prepared = try planner.prepare(tasks, budget: budget)
            let truncated = try #require(try planner.truncateOnly(prepared, budget: budget))
            #expect(truncated.totalBytes <= budget)
            #expect(joint.meanQuality >= truncated.meanQuality - 1e-9, "1/\(divisor)")
            #expect(try #require(joint.truncateOnlyMeanQuality) <= joint.meanQuality + 1e-9)
            // Measurably better than the fixed per-group shares of the previous policy.
            let fixed = try await Self.fixedSharePlans(tasks, budget: budget)
            let fixedMean = fixed.reduce(0) { $0 + Self.sum($1) } / Double(tasks.count)
            #expect(fixed.reduce(0) { $0 + $1.totalBytes } <= budget)
            #expect(joint.meanQuality > fixedMean + 0.03,
                    "1/\(divisor): joint \(joint.meanQuality) vs fixed shares \(fixedMean)")
        }
    }

    @Test func aQueryValueTaskCanShareAnAdapterWithAFourModuleTask() async throws {
        // Same base model: the q+v task's update is the four-module task's on q and v; its k and o are small.
        let full = Self.task("qkvo", base: "base", projections: Self.qkvo, spectrum: [1, 0.5], offset: 0)
        let modules = full.adapter.modules.map { m -> LoRAModule in
            guard m.name.hasSuffix("k_proj") || m.name.hasSuffix("o_proj") else { return m }
            return LoRAModule(name: m.name, layer: m.layer, projection: m.projection, a: m.a,
                              b: Matrix(rows: m.b.rows, cols: m.b.cols, elements: m.b.elements.map { $0 * 0.05 }), scale: 1)
        }
        let fourModules = TaskProfile(name: "qkvo", version: 1, adapter: LoRAAdapter(
            config: full.adapter.config, modules: modules, architecture: full.adapter.architecture, storageDType: .f16,
            tensorBytes: full.adapter.tensorBytes), ownBytes: full.ownBytes)
        let twoModules = Self.task("qv", base: "base", projections: Self.qv, spectrum: [1, 0.5], offset: 0)
        let other = Self.task("other", base: "base", projections: Self.qv, spectrum: [1, 0.5], offset: 8)
        let tasks = [twoModules, fourModules, other]
        let groups = MergeableGroups.form(tasks)
        #expect(groups.count == 1 && groups[0].padded)
        // Room for about one four-module rank-2 adapter and one q+v rank-2 adapter: not three.
        let budget = Self.task("x", base: "base", projections: Self.qkvo, spectrum: [1, 0.5], offset: 0).ownBytes
            + other.ownBytes + 100
        #expect(budget < tasks.reduce(0) { $0 + $1.ownBytes })
        let plan = try await JointBudgetPlanner(sizer: Self.sizer).plan(tasks: tasks, budget: budget)
        #expect(plan.totalBytes <= budget)
        let shared = try #require(plan.groups[0].plan.clusters.first { Set($0.members) == ["qv", "qkvo"] })
        // The merged adapter pays for the union's modules: k and o are stored for the q+v task's sake.
        #expect(shared.adapter.modules.count == 8)
        #expect(Set(shared.adapter.config.targetModules) == Set(Self.qkvo))
        for outcome in plan.groups[0].plan.tasks { #expect(outcome.quality > 0.95, "\(outcome.name) \(outcome.quality)") }
    }

    /// Weight-space scores, presented as a mean over examples that one example moves by `weight`.
    struct SampledScores: Evaluator {
        let weight: Double
        var name: String { "sampled" }
        var maximumScore: Double? { 1 }
        func score(task: TaskProfile, candidate: LoRAAdapter) async throws -> Double {
            try await WeightSpaceEvaluator().score(task: task, candidate: candidate)
        }
        func exampleWeight(for task: TaskProfile) -> Double { weight }
    }

    @Test func aMergeMustWinByMoreThanOneExampleToReplaceTruncateOnly() async throws {
        // Two pairs of nearly equal tasks: merging each pair keeps more than truncating all four.
        let tasks = [0, 8].flatMap { offset in
            [Self.task("a\(offset)", base: "base", projections: Self.qv, spectrum: Self.spectrum, offset: offset),
             Self.task("b\(offset)", base: "base", projections: Self.qv,
                       spectrum: Self.spectrum.map { $0 * 0.97 }, offset: offset)]
        }
        let budget = tasks.reduce(0) { $0 + $1.ownBytes } / 4
        let exact = try await JointBudgetPlanner(evaluator: SampledScores(weight: 0), sizer: Self.sizer)
            .plan(tasks: tasks, budget: budget)
        #expect(exact.policy == .joint)
        let truncated = try #require(exact.truncateOnlyMeanQuality)
        let lead = (exact.meanQuality - truncated) * Double(tasks.count)
        #expect(lead > 0.01, "the merge's lead over truncate-only: \(lead)")
        // One example is worth less than the lead: the merge stays.
        let small = try await JointBudgetPlanner(evaluator: SampledScores(weight: lead / 2), sizer: Self.sizer)
            .plan(tasks: tasks, budget: budget)
        #expect(small.policy == .joint)
        #expect(abs(small.meanQuality - exact.meanQuality) < 1e-12)
        // One example is worth more: the lead is not evidence, truncate-only is served.
        let large = try await JointBudgetPlanner(evaluator: SampledScores(weight: lead * 2), sizer: Self.sizer)
            .plan(tasks: tasks, budget: budget)
        #expect(large.policy == .truncateOnly)
        #expect(large.groups.allSatisfy { $0.plan.clusters.allSatisfy { $0.members.count == 1 } })
        #expect(abs(large.meanQuality - truncated) < 1e-12)
        #expect(large.totalBytes <= budget)
    }

    @Test func modulesOfDifferentShapesStayInSeparateGroups() {
        let a = Self.task("a", base: "base", projections: Self.qv, spectrum: [1], offset: 0)
        let b = Self.task("b", base: "base", projections: Self.qkvo, spectrum: [1], offset: 0)
        // Same base model and module names as `a`, but another width: padding is not sound.
        let c = TaskProfile(name: "c", version: 1, adapter: SyntheticTasks.adapter(
            SyntheticTasks.shapes(layers: 2, width: 16).map {
                SyntheticTasks.module($0, a: Matrix(zeros: 1, 16), b: Matrix(zeros: 16, 1))
            }, rank: 1, baseModel: "base"))
        let d = Self.task("d", base: "other", projections: Self.qv, spectrum: [1], offset: 0)
        let groups = MergeableGroups.form([a, b, c, d])
        #expect(groups.map(\.indices) == [[0, 1], [2], [3]])
        #expect(groups.map(\.padded) == [true, false, false])
        #expect(MergeableGroups.form([a, b]).map(\.indices) == [[0, 1]])
    }
}

extension JointBudgetPlannerTests {
    /// A cancelled plan stops with `CancellationError` (the daemon cancels a background plan when a
    /// change arrives) rather than running to its end.
    @Test func aCancelledPlanStops() async throws {
        let tasks = Self.twoGroups()
        let budget = tasks.reduce(0) { $0 + $1.ownBytes } / 4
        let task = Task { try await JointBudgetPlanner(sizer: Self.sizer).plan(tasks: tasks, budget: budget) }
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
    }
}

extension JointBudgetPlannerTests {
    /// A merge in a cancelled task stops with `CancellationError`, not a merge failure, through every
    /// wrapper that reports merge failures (so a daemon's cancelled background plan is not logged as one).
    @Test func aCancelledMergeIsReportedAsCancelledNotFailed() async throws {
        let tasks = Array(Self.twoGroups().prefix(3))
        let curve = Task {
            try RankQualityCurve.compute(members: [0, 1, 2], adapters: tasks.map(\.adapter), weights: [1, 1, 1], maximumRank: 4)
        }
        curve.cancel()
        await #expect(throws: CancellationError.self) { try await curve.value }
        let merge = Task { try SVDClusterMerger().merge(tasks.map(\.adapter), weights: [1, 1, 1], rank: 4) }
        merge.cancel()
        await #expect(throws: CancellationError.self) { try await merge.value }
    }
}
