import AdapterCore
import AdapterDaemon
import ArgumentParser
import Foundation

/// The one-budget allocation of issue 18 on the committed corpus, whose tasks adapt different module
/// sets (MiniLM: query+value, query+key+value, all four; llama-tiny: q+v, q+k+v+o) at ranks 4–16:
/// per base model and budget, three served sets side by side at the same budget —
/// - fixed shares: the previous daemon policy (one group per exact profile, each first given room for
///   one merged adapter at its largest rank, the rest in proportion to its own bytes; each group
///   planned by `RankAllocatingPlanner` within its share);
/// - joint: `JointBudgetPlanner` (the daemon's policy now), weight-space evaluator;
/// - truncate-only: every task alone, its own adapter truncated to the rank the joint allocation of
///   the bytes gives it, no merging.
/// Each is scored with the weight-space evaluator (its prediction: the share of the update's energy
/// kept) and, unless `--no-measure`, every served adapter on each task's test.jsonl with the external
/// evaluator (accuracy ratio to the task's own adapter); then how well the prediction tracks the
/// measurement (mean absolute error, Spearman rank correlation over the tasks).
struct JointQualityBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "joint-quality",
        abstract: "Fixed per-profile shares vs the joint allocation vs truncate-only at the same budgets (issue 18).")

    @OptionGroup var corpusOptions: CorpusOptions

    @OptionGroup var testEvaluator: TestEvaluatorOptions

    @Option(help: "Budgets as fractions of storing every own adapter, comma-separated.")
    var fractions = "0.5,0.25,0.125,0.0625,0.03125,0.015625"

    @Option(help: "Evaluator argv scoring few.jsonl (e.g. headeval with --score probability): adds a joint plan made with it, and its predictions beside the measurement.")
    var fewEvaluator: String?

    @Option(help: "Base model directories for the built-in data-aware evaluator as BASE=DIR, comma-separated (e.g. minilm=/usr/share/adapterd/models/all-MiniLM-L6-v2,llama-tiny=data/corpus/base/llama-tiny): adds a joint plan it scores on few.jsonl's input sketches, with the sketching and planning times.")
    var baseModels: String?

    @Option(help: "Random clusterings per budget with the weight-space joint plan's groups and per-group cluster counts, where that plan merges (the baseline of any clustering).")
    var randomSeeds = 3

    @Flag(help: "Only the weight-space predictions; no external evaluator is run.")
    var noMeasure = false

    @Option(help: "Compute threads the plans split their modules over (default: one per core, as the daemon's planning-threads).")
    var computeThreads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "What the base models' linear maps multiply in, as the daemon's runtime-precision: auto (bfloat16 where the CPU has AVX512_BF16, else float32), float32 or bfloat16.")
    var runtimePrecision: RuntimePrecision.Choice = .auto

    func run() async throws {
        BLASThreads.set(1)
        ComputeThreads.set(computeThreads)
        let argv = testEvaluator.argv
        let timeout = testEvaluator.timeout
        let test: CachingEvaluator? = noMeasure ? nil
            : CachingEvaluator(try ExternalCommandEvaluator(arguments: argv, timeout: timeout))
        let fractionList = try BudgetFractions.parse(fractions)
        let few: CachingEvaluator? = try fewEvaluator.map {
            CachingEvaluator(try ExternalCommandEvaluator(arguments: $0.split(separator: " ").map(String.init), timeout: timeout))
        }
        let modelDirectories = try Self.pairs(baseModels)
        print("joint-quality: corpus \(corpusOptions.corpus), " + (noMeasure ? "weight-space predictions only" : "test evaluator: \(argv.joined(separator: " "))"))
        var rows: [Row] = []
        for base in corpusOptions.baseList {
            let set = try CorpusTaskSet.load(corpus: corpusOptions.corpus, base: base)
            let profiles = set.tasks.map { $0.profile(examples: .test) }
            let fewProfiles = set.tasks.map { $0.profile(examples: .few) }
            let n = profiles.count
            let ownTotal = profiles.reduce(0) { $0 + $1.ownBytes }
            let layouts = profiles.map { Self.layout($0.adapter) }
            print("")
            print("== \(base): \(n) tasks; own adapters \(ownTotal) bytes; module sets "
                  + Dictionary(grouping: profiles.indices, by: { layouts[$0] }).map { "\($0.value.count)× \(profiles[$0.value[0]].adapter.config.targetModules.joined(separator: "+"))" }.sorted().joined(separator: ", ")
                  + "; ranks \(profiles.map { $0.adapter.config.r })")
            let runtime = try modelDirectories[base].map {
                try Self.sketches(set, modelDirectory: $0, precision: runtimePrecision.resolved)
            }
            let fewExamples = Dictionary(uniqueKeysWithValues: set.tasks.map { ($0.name, $0.few) })
            var own: [Double] = []
            if let test {
                for profile in profiles { own.append(try await test.score(task: profile, candidate: profile.adapter)) }
            }
            for fraction in fractionList {
                let budget = Int(Double(ownTotal) * fraction)
                var unplanned: [String: String] = [:]
                var served = try await Self.weightSpacePlans(profiles, layouts: layouts, budget: budget, randomSeeds: randomSeeds)
                if let few {
                    // Planned with the few examples' scores: its predictions are that evaluator's.
                    do {
                        let joint = try await JointBudgetPlanner(evaluator: few).plan(tasks: fewProfiles, budget: budget)
                        served.append(("joint, few-shot evaluator, \(joint.policy.rawValue), \(joint.evaluations) evals"
                                       + Self.truncateOnlyScore(joint), Served(joint, taskCount: n)))
                    } catch let error as ClusteringError where error.code == .budgetTooSmall {
                        served.append(("joint, few-shot evaluator", nil))
                    }
                }
                if let runtime {
                    for (label, planner) in Self.builtInPlanners(runtime, examples: fewExamples) {
                        served.append(try await Self.timedPlan("joint, " + label, planner, fewProfiles, budget: budget,
                                                               unplanned: &unplanned))
                    }
                }
                for (method, plan) in served {
                    var measurement: (ratios: [Double], gains: [Double?])?
                    if let plan { measurement = try await Self.measure(plan, set: set, profiles: profiles, own: own, test: test) }
                    rows.append(Row(base: base, budget: BudgetFractions.text(fraction), method: method, plan: plan,
                                    measured: measurement?.ratios, gains: measurement?.gains, names: profiles.map(\.name),
                                    unplanned: plan == nil ? unplanned[method] : nil))
                }
                Self.printRows(rows.filter { $0.base == base && $0.budget == BudgetFractions.text(fraction) }, budget: budget)
            }
        }
        print("")
        print("== all rows")
        Self.printRows(rows, budget: nil)
    }

    /// A served set: per task, the adapter serving it, whether that is its own file, and the
    /// weight-space prediction; and the bytes and shape of the whole.
    struct Served {
        var adapters: [LoRAAdapter]
        var usesOwn: [Bool]
        var predicted: [Double]
        var bytes: Int
        var clusters: Int
        var merged: Int
        var ranks: [Int]

        init(taskCount n: Int) {
            adapters = []
            usesOwn = [Bool](repeating: false, count: n)
            predicted = [Double](repeating: 0, count: n)
            bytes = 0
            clusters = 0
            merged = 0
            ranks = []
        }

        init(_ plan: JointPlan, taskCount n: Int) {
            self.init(plan.groups, taskCount: n)
        }

        init(_ groups: [JointPlan.Group], taskCount n: Int) {
            self.init(taskCount: n)
            for group in groups { add(group.plan, indices: group.indices) }
        }

        mutating func add(_ plan: ClusterPlan, indices: [Int]) {
            if adapters.isEmpty, let any = plan.clusters.first?.adapter {
                adapters = [LoRAAdapter](repeating: any, count: usesOwn.count)
            }
            let byName = Dictionary(uniqueKeysWithValues: plan.tasks.enumerated().map { ($1.name, indices[$0]) })
            for cluster in plan.clusters {
                clusters += 1
                if cluster.members.count > 1 { merged += 1 }
                ranks.append(cluster.rank)
                bytes += cluster.bytes
                for name in cluster.members {
                    guard let i = byName[name] else { continue }
                    adapters[i] = cluster.adapter
                    usesOwn[i] = cluster.usesOwnAdapter
                }
            }
            for outcome in plan.tasks { if let i = byName[outcome.name] { predicted[i] = outcome.quality } }
        }
    }

    /// The weight-space rows of one budget: the previous fixed shares, the daemon's joint plan,
    /// truncate-only and, where the joint plan merges, `randomSeeds` random clusterings like it.
    static func weightSpacePlans(_ profiles: [TaskProfile], layouts: [String], budget: Int,
                                 randomSeeds: Int) async throws -> [(method: String, plan: Served?)] {
        var served: [(method: String, plan: Served?)] = []
        served.append(("fixed shares (before)", try await fixedShares(profiles, layouts: layouts, budget: budget)))
        var weightSpacePlan: JointPlan?
        do {
            let joint = try await JointBudgetPlanner().plan(tasks: profiles, budget: budget)
            weightSpacePlan = joint
            let grouping = joint.groups.contains(where: \.padded) ? ", module sets joined" : ""
            served.append(("joint (after), \(joint.policy.rawValue)\(grouping)", Served(joint, taskCount: profiles.count)))
        } catch let error as ClusteringError where error.code == .budgetTooSmall {
            served.append(("joint (after)", nil))
        }
        served.append(("truncate-only", try await truncateOnly(profiles, budget: budget)))
        // Random clusterings with the joint plan's groups and cluster counts where it merges (with
        // every task alone they are truncate-only).
        if let joint = weightSpacePlan, joint.groups.contains(where: { $0.plan.clusters.count < $0.indices.count }) {
            let counts = joint.groups.map { "\($0.plan.clusters.count)" }.joined(separator: "+")
            let random = try await randomClusterings(profiles, like: joint, budget: budget, seeds: max(0, randomSeeds))
            for (seed, plan) in random.enumerated() {
                served.append(("random clustering, K = \(counts), seed \(seed + 1)", plan))
            }
        }
        return served
    }

    /// The planners with the built-in evaluators of the runtime, on the few examples' sketches.
    static func builtInPlanners(_ runtime: (sketcher: TaskInputSketcher, sketches: [String: TaskInputSketch]),
                                examples fewExamples: [String: [TaskExample]]) -> [(String, JointBudgetPlanner)] {
        let examples: @Sendable (TaskProfile) throws -> [TaskExample] = { task in
            guard let found = fewExamples[task.name] else {
                throw ClusteringError(.evaluatorFailed, "no examples of \(task.name)")
            }
            return found
        }
        // Scores and merge choices share one evaluator, so each task's reference is prepared once.
        let sharedEvaluator = DataAwareEvaluator(sketches: runtime.sketches)
        return [
            ("data-aware (built in)", JointBudgetPlanner(evaluator: DataAwareEvaluator(sketches: runtime.sketches))),
            // Scored at the model's output instead: one forward pass per candidate.
            ("output agreement (built in)",
             JointBudgetPlanner(evaluator: OutputAgreementEvaluator(sketcher: runtime.sketcher, examples: examples))),
            // The few examples' right-label probability, computed by the runtime.
            ("label probability (built in)",
             JointBudgetPlanner(evaluator: LabelProbabilityEvaluator(sketcher: runtime.sketcher, examples: examples))),
            // Data-aware, each cluster merged by the SVD or the data-aware (RegMean) merge, whichever
            // keeps more by the data-aware score.
            ("data-aware, merge by data-aware choice of SVD/RegMean",
             JointBudgetPlanner(evaluator: sharedEvaluator, merger: { tasks, dtype in
                 try DataAwareMergeChoice(tasks: tasks, evaluator: sharedEvaluator,
                                          options: .init(weighting: .relative), storageDType: dtype)
             })),
        ]
    }

    /// A served set measured on test.jsonl: per task the accuracy ratio to its own adapter, and the
    /// gain ratio (how much of the own adapter's gain over the base model is kept; nil where the own
    /// adapter does not beat the base). Nil without a test evaluator.
    static func measure(_ plan: Served, set: CorpusTaskSet, profiles: [TaskProfile], own: [Double],
                        test: CachingEvaluator?) async throws -> (ratios: [Double], gains: [Double?])? {
        guard let test else { return nil }
        var ratios: [Double] = []
        for i in profiles.indices {
            ratios.append(plan.usesOwn[i] ? 1 : try await test.score(task: profiles[i], candidate: plan.adapters[i]) / own[i])
        }
        let gains = profiles.indices.map { i -> Double? in
            let base = set.tasks[i].manifestBaseAccuracy
            return own[i] - base > 0 ? (ratios[i] * own[i] - base) / (own[i] - base) : nil
        }
        return (ratios, gains)
    }

    /// One plan made and timed, labelled with its policy, evaluations and time (nil: the budget is too
    /// small, or the evaluator cannot score a candidate or a merge it chooses cannot be made — why goes
    /// into `unplanned`, by label; the daemon then plans by weight-space and says so in its evaluator note).
    static func timedPlan(_ label: String, _ planner: JointBudgetPlanner, _ tasks: [TaskProfile],
                          budget: Int, unplanned: inout [String: String]) async throws -> (String, Served?) {
        let started = Date()
        do {
            let joint = try await planner.plan(tasks: tasks, budget: budget)
            let seconds = Date().timeIntervalSince(started)
            return ("\(label), \(joint.policy.rawValue), \(joint.evaluations) evals, " + String(format: "planned in %.1f s", seconds)
                    + truncateOnlyScore(joint),
                    Served(joint, taskCount: tasks.count))
        } catch let error as ClusteringError where error.code == .budgetTooSmall {
            return (label, nil)
        } catch let error as ClusteringError where error.code == .evaluatorFailed || error.code == .mergeFailed {
            unplanned[label] = "no plan: \(error.message)"
            return (label, nil)
        }
    }

    /// BASE=DIR pairs.
    static func pairs(_ text: String?) throws -> [String: String] {
        var result: [String: String] = [:]
        for pair in (text ?? "").split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw ValidationError("--base-models takes BASE=DIR pairs, got '\(pair)'")
            }
            result[parts[0]] = parts[1]
        }
        return result
    }

    /// Each task's input sketch of its few.jsonl (what the daemon makes at install), timed.
    static func sketches(_ set: CorpusTaskSet, modelDirectory: String, precision: RuntimePrecision) throws
        -> (sketcher: TaskInputSketcher, sketches: [String: TaskInputSketch]) {
        let loadStarted = Date()
        let sketcher = try TaskInputSketcher(modelDirectory: URL(fileURLWithPath: modelDirectory), precision: precision)
        let loaded = Date()
        var sketches: [String: TaskInputSketch] = [:]
        var bytes = 0, ownBytes = 0
        for task in set.tasks {
            let sketch = try sketcher.sketch(task.few, options: .forTask(task.adapter))
            sketches[task.name] = sketch
            bytes += sketch.byteSize
            ownBytes += task.adapter.tensorBytes
        }
        let seconds = Date().timeIntervalSince(loaded)
        print(String(format: "data-aware: model %@ (products in %@) loaded in %.2f s; %d sketches of few.jsonl in %.2f s (%.0f ms per task), "
                     + "%d bytes in all = %.2f of the own adapters' tensor bytes", modelDirectory, precision.rawValue,
                     loaded.timeIntervalSince(loadStarted), sketches.count, seconds, 1000 * seconds / Double(max(1, sketches.count)),
                     bytes, Double(bytes) / Double(max(1, ownBytes))))
        return (sketcher, sketches)
    }

    /// The previous daemon policy: one group per exact profile, fixed shares, each group planned alone.
    /// nil when a share cannot hold its group (the daemon refused such a budget).
    static func fixedShares(_ profiles: [TaskProfile], layouts: [String], budget: Int) async throws -> Served? {
        var order: [String] = []
        var groups: [String: [Int]] = [:]
        for (i, key) in layouts.enumerated() {
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(i)
        }
        let members = order.map { groups[$0]! }
        let planners = try members.map { try BudgetPlanner(tasks: $0.map { profiles[$0] }) }
        let own = members.map { $0.reduce(0) { $0 + profiles[$1].ownBytes } }
        let minimum = try members.indices.map { g in
            min(own[g], try planners[g].mergedBytes(rank: members[g].map { profiles[$0].adapter.config.r }.max() ?? 1))
        }
        let shares = JointBudgetPlanner.fixedShares(budget: budget, own: own, minimum: minimum)
        var served = Served(taskCount: profiles.count)
        for (g, indices) in members.enumerated() {
            do {
                let plan = try await RankAllocatingPlanner().plan(tasks: indices.map { profiles[$0] }, budget: shares[g],
                                                                  planner: planners[g])
                served.add(plan, indices: indices)
            } catch let error as ClusteringError where error.code == .budgetTooSmall {
                return nil
            }
        }
        return served
    }

    /// Every task alone, ranks allocated jointly under the budget (nil when rank 1 each does not fit).
    static func truncateOnly(_ profiles: [TaskProfile], budget: Int) async throws -> Served? {
        let planner = JointBudgetPlanner()
        let prepared = try planner.prepare(profiles, budget: budget)
        guard let allocation = try planner.truncateOnly(prepared, budget: budget) else { return nil }
        return Served(try await planner.materialise(allocation, of: prepared, budget: budget).parts, taskCount: profiles.count)
    }

    /// The evaluator's own mean for truncate-only, when the plan scored it (the plan is chosen over it
    /// only when its own mean is higher).
    static func truncateOnlyScore(_ plan: JointPlan) -> String {
        plan.truncateOnlyMeanQuality.map { ", truncate-only by its score " + String(format: "%.4f", $0) } ?? ""
    }

    /// `seeds` random clusterings like `joint`'s: in each of its groups (module sets padded to their
    /// union where it padded them) the group's tasks assigned at random (`QualityBench.randomAssignment`,
    /// seed s + group index) to as many clusters as the plan gave the group, the ranks of all clusters
    /// allocated under `budget` by weight-space as the daemon allocates them (nil: they do not fit at
    /// rank 1).
    static func randomClusterings(_ profiles: [TaskProfile], like joint: JointPlan, budget: Int,
                                  seeds: Int) async throws -> [Served?] {
        guard seeds > 0 else { return [] }
        let planner = JointBudgetPlanner()
        let clusterings = joint.groups.enumerated().map { g, group in
            (1...seeds).map { seed in
                var clusters = [[Int]](repeating: [], count: group.plan.clusters.count)
                for (task, cluster) in QualityBench.randomAssignment(n: group.indices.count, k: clusters.count,
                                                                     seed: UInt64(seed) &+ UInt64(g)).enumerated() {
                    clusters[cluster].append(task)
                }
                return clusters
            }
        }
        let prepared = try planner.prepare(profiles, like: joint, clusterings: clusterings)
        var served: [Served?] = []
        for s in 0..<seeds {
            guard let allocation = try planner.allocate(prepared, clusterings: prepared.map { _ in s }, budget: budget) else {
                served.append(nil)
                continue
            }
            served.append(Served(try await planner.materialise(allocation, of: prepared, budget: budget).parts,
                                 taskCount: profiles.count))
        }
        return served
    }

    struct Row {
        let base: String
        let budget: String
        let method: String
        let plan: Served?
        let measured: [Double]?
        /// Per task, (served − base) / (own − base) accuracy; nil where the own adapter does not beat the base.
        let gains: [Double?]?
        let names: [String]
        /// Why there is no plan when `plan` is nil, if not that it does not fit.
        var unplanned: String? = nil
    }

    static func printRows(_ rows: [Row], budget: Int?) {
        if let budget { print(""); print("-- budget \(rows.first?.budget ?? "") = \(budget) bytes") }
        print("| base | budget | method | bytes | served (merged) | ranks | predicted mean (worst) | measured acc. ratio mean | worst (task) | MAE pred.–meas. | Spearman | gain ratio mean (worst) |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for row in rows {
            guard let plan = row.plan else {
                print("| \(row.base) | \(row.budget) | \(row.method) | – | \(row.unplanned ?? "does not fit") | – | – | – | – | – | – | – |")
                continue
            }
            let predictedMean = plan.predicted.reduce(0, +) / Double(max(1, plan.predicted.count))
            let ranks = "\(plan.ranks.min() ?? 0)–\(plan.ranks.max() ?? 0)"
            var measuredText = "– | – | – | – | –"
            if let measured = row.measured {
                let mean = measured.reduce(0, +) / Double(max(1, measured.count))
                let worst = measured.indices.min { measured[$0] < measured[$1] } ?? 0
                let mae = zip(plan.predicted, measured).map { abs($0 - $1) }.reduce(0, +) / Double(max(1, measured.count))
                measuredText = "\(QualityBench.f3(mean)) | \(QualityBench.f3(measured[worst])) (\(row.names[worst])) | \(QualityBench.f3(mae)) | "
                    + "\(spearman(plan.predicted, measured).map(QualityBench.f3) ?? "–") | "
                let gains = (row.gains ?? []).compactMap { $0 }
                measuredText += gains.isEmpty ? "–"
                    : "\(QualityBench.f3(gains.reduce(0, +) / Double(gains.count))) (\(QualityBench.f3(gains.min() ?? 0)))"
            }
            print("| \(row.base) | \(row.budget) | \(row.method) | \(plan.bytes) | \(plan.clusters) (\(plan.merged)) | \(ranks) | "
                  + "\(QualityBench.f3(predictedMean)) (\(QualityBench.f3(plan.predicted.min() ?? 0))) | \(measuredText) |")
        }
    }

    /// Spearman's rank correlation (average ranks for ties); nil when either side is constant.
    static func spearman(_ x: [Double], _ y: [Double]) -> Double? {
        func ranks(_ v: [Double]) -> [Double] {
            let order = v.indices.sorted { v[$0] < v[$1] }
            var r = [Double](repeating: 0, count: v.count)
            var i = 0
            while i < order.count {
                var j = i
                while j + 1 < order.count && v[order[j + 1]] == v[order[i]] { j += 1 }
                for k in i...j { r[order[k]] = Double(i + j) / 2 + 1 }
                i = j + 1
            }
            return r
        }
        guard x.count == y.count, x.count > 1 else { return nil }
        let (rx, ry) = (ranks(x), ranks(y))
        let mx = rx.reduce(0, +) / Double(rx.count)
        let my = ry.reduce(0, +) / Double(ry.count)
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for i in rx.indices {
            sxy += (rx[i] - mx) * (ry[i] - my)
            sxx += (rx[i] - mx) * (rx[i] - mx)
            syy += (ry[i] - my) * (ry[i] - my)
        }
        guard sxx > 0, syy > 0 else { return nil }
        return sxy / (sxx * syy).squareRoot()
    }

    static func layout(_ adapter: LoRAAdapter) -> String {
        adapter.modules.map { "\($0.name):\($0.outFeatures)x\($0.inFeatures)" }.sorted().joined(separator: ";")
    }

}
