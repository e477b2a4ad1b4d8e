import AdapterCore
import AdapterDaemon
import ArgumentParser
import Foundation

/// Retained quality of budgeted clustering on the committed corpus, measured with a real model: per
/// base model, one benign adapter per task, budgets as fractions of storing every own adapter, and
/// three ways of choosing the clusters at the same budget (data-driven refinement with an external
/// evaluator on the few examples, weight-space clustering alone, random clusterings). Every served
/// adapter is then scored on each task's held-out test.jsonl with the same external evaluator.
struct QualityBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quality",
        abstract: "Retained accuracy of refined vs weight-space vs random clustering on the corpus (external evaluator).")

    @OptionGroup var corpusOptions: CorpusOptions

    @OptionGroup var testEvaluator: TestEvaluatorOptions

    @Option(help: "Evaluator argv for the few examples that drive refinement and plan choice (default: --evaluator). The test accuracies always come from --evaluator.")
    var fewEvaluator: String?

    @Option(help: "Budgets as fractions of storing every own adapter, comma-separated.")
    var fractions = "0.25,0.125"

    @Option(help: "Random clusterings per budget.")
    var randomSeeds = 5

    @Option(help: "Maximum refinement rounds (data-driven and weight-space).")
    var rounds = 8

    @Option(help: "Candidate clusters scored per task and round (c).")
    var candidates = 3

    @Option(help: "Merge weighting: uniform or inverseSquaredNorm.")
    var weighting = "uniform"

    @Option(help: "Merged rank (default: the largest rank ≤ the smallest own rank at which K ≥ 2).")
    var rank: Int?

    @Option(help: "Write per-task results as JSON to this file.")
    var json: String?

    @Flag(help: "Give every cluster its own rank (RankAllocatingPlanner, the daemon's policy) instead of one merged rank.")
    var allocateRanks = false

    func run() async throws {
        BLASThreads.set(1)
        let argv = testEvaluator.argv
        guard let mergeWeighting = MergeWeighting(rawValue: weighting) else {
            throw ValidationError("--weighting must be one of \(MergeWeighting.allCases.map(\.rawValue))")
        }
        let fewArgv = (fewEvaluator ?? testEvaluator.evaluator).split(separator: " ").map(String.init)
        let timeout = testEvaluator.timeout
        let external = try ExternalCommandEvaluator(arguments: argv, timeout: timeout)
        let fewEvaluator = CachingEvaluator(try ExternalCommandEvaluator(arguments: fewArgv, timeout: timeout))
        let testEvaluator = CachingEvaluator(external)
        let fractionList = try BudgetFractions.parse(fractions)
        let started = Date()
        print("quality benchmark: corpus \(corpusOptions.corpus), evaluator: \(argv.joined(separator: " "))")
        if fewArgv != argv { print("few-example evaluator: \(fewArgv.joined(separator: " "))") }
        print("merge: svd, weighting \(mergeWeighting.rawValue), c = \(candidates), ≤ \(rounds) rounds, "
              + "\(randomSeeds) random seeds, OpenBLAS threads 1")
        var summaries: [Summary] = []
        var records: [[String: Any]] = []
        for base in corpusOptions.baseList {
            let set = try await QualityBaseSet.load(corpus: corpusOptions.corpus, base: base, testEvaluator: testEvaluator)
            for fraction in fractionList {
                let budget = Int(Double(set.ownTotal) * fraction)
                let (rows, rowRecords) = allocateRanks
                    ? try await runAllocated(set, fraction: fraction, budget: budget, fewEvaluator: fewEvaluator)
                    : try await runFixedRank(set, fraction: fraction, budget: budget, weighting: mergeWeighting,
                                             fewEvaluator: fewEvaluator)
                summaries += rows
                records += rowRecords
                Self.printTable(rows)
            }
        }
        print("")
        print("== summary (test.jsonl, 100 examples per task; accuracy ratio acc(merged)/acc(own), gain ratio "
              + "(acc(merged) − acc(base))/(acc(own) − acc(base)); random: mean over seeds, worst over seeds)")
        Self.printTable(summaries)
        if Set(summaries.map(\.base)).count > 1 { Self.printCorpusTable(summaries) }
        let fewStats = (await fewEvaluator.misses, await fewEvaluator.hits)
        let testStats = (await testEvaluator.misses, await testEvaluator.hits)
        print("external evaluations: few.jsonl \(fewStats.0) (+\(fewStats.1) cached), test.jsonl \(testStats.0) "
              + "(+\(testStats.1) cached); wall time \(Int(Date().timeIntervalSince(started))) s")
        if let json {
            let data = try JSONSerialization.data(withJSONObject: records, options: [.prettyPrinted, .sortedKeys])
            try data.write(to: URL(fileURLWithPath: json))
            print("per-task results: \(json)")
        }
    }

    // MARK: - One merged rank

    /// A served set a method chose, for held-out scoring.
    struct ServedSet {
        let method: String
        let seed: Int?
        let clusters: [ServedCluster]
        /// Few-example evaluations the method spent choosing it.
        let evaluations: Int
    }

    /// One budget with one merged rank: the refined (both candidate merges), weight-space and random
    /// served sets at the same K, each scored on test.jsonl.
    func runFixedRank(_ set: QualityBaseSet, fraction: Double, budget: Int, weighting: MergeWeighting,
                      fewEvaluator: CachingEvaluator) async throws -> ([Summary], [[String: Any]]) {
        let (rank, decision) = try chooseRank(set, fraction: fraction, budget: budget)
        try await printTruncationCost(set, rank: rank)
        var options = ClusterRefiner.Options(maxRounds: rounds, candidateClusters: candidates,
                                             weighting: weighting, seed: 0)
        options.parallelism = 1
        let served = try await fixedRankServedSets(set, fraction: fraction, budget: budget, rank: rank,
                                                   decision: decision, options: options, fewEvaluator: fewEvaluator)
        var perMethod: [String: [Outcome]] = [:]
        var records: [[String: Any]] = []
        for entry in served {
            let (outcome, record) = try await set.scoreHeldOut(
                entry.clusters, method: entry.method, seed: entry.seed, fraction: fraction, budget: budget,
                k: decision.clusterCount, fewEvaluations: entry.evaluations, extra: ["rank": rank])
            perMethod[entry.method, default: []].append(outcome)
            records.append(record)
            print("  \(entry.method)\(entry.seed.map { " seed \($0)" } ?? ""): clusters "
                  + outcome.clusters.map { "{" + $0.joined(separator: " ") + "}" }.joined(separator: " "))
        }
        let methods = [Self.refinedLabel(.withTask), Self.refinedLabel(.withoutTask), "weight-space", "random"]
        let rows = methods.compactMap { method in
            perMethod[method].map { outcomes in
                Summary(base: set.base, fraction: fraction, k: decision.clusterCount, rank: String(rank),
                        method: method, outcomes: outcomes,
                        evaluations: served.first { $0.method == method }?.evaluations ?? 0)
            }
        }
        return (rows, records)
    }

    /// The merged rank (--rank, else `mergedRank`) and the planner's decision at it, printed against
    /// the planner's default.
    func chooseRank(_ set: QualityBaseSet, fraction: Double,
                    budget: Int) throws -> (rank: Int, decision: BudgetPlanner.Decision) {
        let (planner, sizes) = (set.planner, set.sizes)
        let defaultDecision = try planner.decide(tasks: sizes, budget: budget)
        let (rank, decision) = try self.rank.map { r in
            let d = try planner.decide(tasks: sizes, budget: budget, mergedRank: r)
            return (d.mergedRank, d)
        } ?? Self.mergedRank(planner: planner, sizes: sizes, budget: budget)
        print("")
        print("-- \(set.base), budget \(BudgetFractions.text(fraction)) = \(budget) bytes: planner default rank "
              + "\(defaultDecision.mergedRank) → K = \(defaultDecision.clusterCount); used: rank \(rank) → "
              + "K = \(decision.clusterCount) (\(decision.mergedBytes) bytes per merged adapter)")
        return (rank, decision)
    }

    /// What the rank alone costs: each own adapter truncated to the merged rank, unmerged.
    func printTruncationCost(_ set: QualityBaseSet, rank: Int) async throws {
        var truncated: [Double] = []
        for i in 0..<set.count {
            let alone = try SVDClusterMerger().merge([set.fewProfiles[i].adapter], weights: [1], rank: rank)
            truncated.append(try await set.testEvaluator.score(task: set.testProfiles[i], candidate: alone) / set.ownAcc[i])
        }
        print("own adapters truncated to rank \(rank), unmerged: accuracy ratio mean "
              + "\(Self.f3(truncated.reduce(0, +) / Double(set.count))), worst \(Self.f3(truncated.min() ?? 0))")
    }

    /// The served sets of each method at one merged rank: refined (with and without the task in the
    /// candidate merge), weight-space, then random.
    func fixedRankServedSets(_ set: QualityBaseSet, fraction: Double, budget: Int, rank: Int,
                             decision: BudgetPlanner.Decision, options: ClusterRefiner.Options,
                             fewEvaluator: CachingEvaluator) async throws -> [ServedSet] {
        let names = set.fewProfiles.map(\.name)
        // (b) weight-space clustering alone: k-medoids + refinement under the weight-space evaluator.
        let weightPlan = try await ClusterRefiner(evaluator: WeightSpaceEvaluator()).plan(
            tasks: set.fewProfiles, budget: budget, planner: set.planner, mergedRank: rank, options: options,
            similarity: set.similarity)
        var served = [ServedSet(method: "weight-space", seed: nil, clusters: ServedCluster.of(weightPlan, names: names),
                                evaluations: weightPlan.evaluations)]

        // (a) data-driven refinement: the external evaluator on few.jsonl, from the same k-medoids
        // start, scoring a task against candidate clusters merged with it (as D2C re-merges) and,
        // for comparison, against their current merges (the refiner's default).
        for mode in [ClusterRefiner.CandidateMerge.withTask, .withoutTask] {
            var refineOptions = options
            refineOptions.candidateMerge = mode
            let label = Self.refinedLabel(mode)
            let dataPlan = try await ClusterRefiner(evaluator: fewEvaluator).plan(
                tasks: set.fewProfiles, budget: budget, planner: set.planner, mergedRank: rank, options: refineOptions,
                similarity: set.similarity, progress: Self.progressLine("\(set.base) \(BudgetFractions.text(fraction)) \(label)"))
            served.insert(ServedSet(method: label, seed: nil, clusters: ServedCluster.of(dataPlan, names: names),
                                    evaluations: dataPlan.evaluations), at: served.count - 1)
            print("\(label): \(dataPlan.rounds) rounds, \(dataPlan.evaluations) few-example evaluations, "
                  + "mean few-shot quality per round \(dataPlan.roundMeanQuality.map(Self.f3))")
        }

        // (c) random clusterings with the same K and rank.
        for seed in 1...max(1, randomSeeds) {
            let assignment = Self.randomAssignment(n: set.count, k: decision.clusterCount, seed: UInt64(seed))
            var noRounds = options
            noRounds.maxRounds = 0
            let result = try await ClusterRefiner(evaluator: WeightSpaceEvaluator()).refine(
                tasks: set.fewProfiles, clusterCount: decision.clusterCount, mergedRank: decision.mergedRank,
                options: noRounds, similarity: set.similarity, initialAssignment: assignment)
            let serving = try set.planner.allocate(clusters: result.clusters, tasks: set.sizes, decision: decision)
            let clusters = result.clusters.indices.map { c in
                ServedCluster(members: result.clusters[c],
                              adapter: serving[c].usesOwnAdapter ? set.fewProfiles[result.clusters[c][0]].adapter
                                                                 : result.adapters[c],
                              usesOwnAdapter: serving[c].usesOwnAdapter)
            }
            served.append(ServedSet(method: "random", seed: seed, clusters: clusters, evaluations: 0))
        }
        return served
    }

    /// A refiner's progress, written to standard error behind `[label]`.
    static func progressLine(_ label: String) -> ClusterRefiner.Progress {
        { _, message in FileHandle.standardError.write(Data("  [\(label)] \(message)\n".utf8)) }
    }

    // MARK: - Per-cluster ranks

    /// A plan a method chose with per-cluster ranks, for held-out scoring.
    struct AllocatedPlan {
        let method: String
        let seed: Int?
        let plan: ClusterPlan
        let evaluations: Int
    }

    /// One budget with `RankAllocatingPlanner`: weight-space = the best allocation over every K by
    /// weight-space quality; refined (few) = the best of the `candidates` best allocations by the
    /// external evaluator on few.jsonl, then the ranks of its clusters re-allocated by the evaluator's
    /// scores at ranks 1, 2, 4, … (kept if better); random = random clusterings with the weight-space plan's K,
    /// ranks allocated the same way.
    func runAllocated(_ set: QualityBaseSet, fraction: Double, budget: Int,
                      fewEvaluator: CachingEvaluator) async throws -> ([Summary], [[String: Any]]) {
        let served = try await allocatedPlans(set, fraction: fraction, budget: budget, fewEvaluator: fewEvaluator)
        var perMethod: [String: [Outcome]] = [:]
        var records: [[String: Any]] = []
        for entry in served {
            let clusters = entry.plan.clusters
            let (outcome, record) = try await set.scoreHeldOut(
                ServedCluster.of(entry.plan, names: set.names), method: entry.method, seed: entry.seed,
                fraction: fraction, budget: budget, k: clusters.count, fewEvaluations: entry.evaluations,
                extra: ["ranks": clusters.map(\.rank), "own_files": clusters.map(\.usesOwnAdapter),
                        "bytes": entry.plan.totalBytes, "policy": "allocated"])
            perMethod[entry.method, default: []].append(outcome)
            records.append(record)
            print("  \(entry.method)\(entry.seed.map { " seed \($0)" } ?? ""): "
                  + zip(outcome.clusters, clusters).map { members, cluster in
                      "{" + members.joined(separator: " ") + "}@\(cluster.usesOwnAdapter ? "own" : String(cluster.rank))"
                  }.joined(separator: " "))
        }
        // The refined plan first, then weight-space, then every random seed in one row.
        var rows: [Summary] = served.prefix(2).map { entry in
            Summary(base: set.base, fraction: fraction, k: entry.plan.clusters.count,
                    rank: Self.rankRange(entry.plan.clusters.map(\.rank)), method: entry.method,
                    outcomes: perMethod[entry.method] ?? [], evaluations: entry.evaluations)
        }
        let random = served.filter { $0.method == "random" }
        rows.append(Summary(base: set.base, fraction: fraction, k: served[1].plan.clusters.count,
                            rank: Self.rankRange(random.flatMap { $0.plan.clusters.map(\.rank) }), method: "random",
                            outcomes: perMethod["random"] ?? [], evaluations: 0))
        return (rows, records)
    }

    /// The plans of each method with per-cluster ranks: refined, weight-space, then random ones.
    func allocatedPlans(_ set: QualityBaseSet, fraction: Double, budget: Int,
                        fewEvaluator: CachingEvaluator) async throws -> [AllocatedPlan] {
        let (fewProfiles, planner, similarity) = (set.fewProfiles, set.planner, set.similarity)
        var options = RankAllocatingPlanner.Options(evaluatedPlans: candidates)
        options.weighting = MergeWeighting(rawValue: weighting) ?? .uniform
        var book = RankAllocatingPlanner.CurveBook()
        let weightPlanner = RankAllocatingPlanner()
        let all = try weightPlanner.candidates(tasks: fewProfiles, budget: budget, planner: planner, options: options,
                                               similarity: similarity, book: &book)
        print("")
        print("-- \(set.base), budget \(BudgetFractions.text(fraction)) = \(budget) bytes, per-cluster ranks; "
              + "candidates (K: ranks → weight-space mean quality):")
        for candidate in all {
            print("   K = \(candidate.clusterCount): ranks \(candidate.ranks)\(candidate.choices.contains { $0.usesOwnAdapter } ? " (own files: \(candidate.choices.filter(\.usesOwnAdapter).count))" : "") → \(Self.f3(candidate.meanQuality)), \(candidate.totalBytes) bytes")
        }
        var clock = Date()
        let weightPlan = try await weightPlanner.plan(tasks: fewProfiles, budget: budget, planner: planner,
                                                      options: options, similarity: similarity)
        print("weight-space: K = \(weightPlan.clusters.count), ranks \(weightPlan.clusters.map(\.rank)), "
              + "\(weightPlan.totalBytes) bytes, \(Self.f1(Date().timeIntervalSince(clock))) s")
        clock = Date()
        let label = "refined (few: best of \(candidates) plans, ranks by scores)"
        let dataPlan = try await RankAllocatingPlanner(evaluator: fewEvaluator).plan(
            tasks: fewProfiles, budget: budget, planner: planner, options: options, similarity: similarity,
            progress: Self.progressLine("\(set.base) \(BudgetFractions.text(fraction)) allocated"))
        // roundMeanQuality: the scored candidates' weight-space quality, then the refinement rounds' mean
        // quality under the few-example evaluator.
        let scoredCount = min(candidates, all.count, dataPlan.roundMeanQuality.count)
        print("\(label): K = \(dataPlan.clusters.count), ranks \(dataPlan.clusters.map(\.rank)), \(dataPlan.totalBytes) bytes, "
              + "\(dataPlan.evaluations) few-example evaluations, weight-space quality of the plans scored "
              + "\(dataPlan.roundMeanQuality.prefix(scoredCount).map(Self.f3)), few-example quality of the refinement rounds "
              + "\(dataPlan.roundMeanQuality.dropFirst(scoredCount).map(Self.f3)), \(Self.f1(Date().timeIntervalSince(clock))) s")
        var served = [AllocatedPlan(method: label, seed: nil, plan: dataPlan, evaluations: dataPlan.evaluations),
                      AllocatedPlan(method: "weight-space", seed: nil, plan: weightPlan, evaluations: 0)]
        let k = weightPlan.clusters.count
        for seed in 1...max(1, randomSeeds) {
            let assignment = Self.randomAssignment(n: set.count, k: k, seed: UInt64(seed))
            var clusters = [[Int]](repeating: [], count: k)
            for (task, cluster) in assignment.enumerated() { clusters[cluster].append(task) }
            let candidate = try weightPlanner.allocate(clusters: clusters, tasks: fewProfiles, budget: budget,
                                                       planner: planner, options: options, similarity: similarity,
                                                       book: &book)
            let plan = try await weightPlanner.plan(candidate: candidate, tasks: fewProfiles, budget: budget,
                                                    planner: planner, options: options, similarity: similarity)
            served.append(AllocatedPlan(method: "random", seed: seed, plan: plan, evaluations: 0))
        }
        return served
    }

    static func rankRange(_ ranks: [Int]) -> String {
        guard let low = ranks.min(), let high = ranks.max() else { return "–" }
        return low == high ? "\(low)" : "\(low)–\(high)"
    }

    static func f1(_ x: Double) -> String { String(format: "%.1f", x) }

    // MARK: - Rank, random assignment

    /// The merged rank: the largest rank ≤ the smallest own rank at which the budget holds K ≥ 2
    /// merged adapters (rank 1 when none does). The planner's default, the largest own rank, often
    /// holds a single merged adapter on this corpus, where every method is the same.
    static func mergedRank(planner: BudgetPlanner, sizes: [BudgetPlanner.TaskSize],
                           budget: Int) throws -> (Int, BudgetPlanner.Decision) {
        let smallest = sizes.map(\.rank).min() ?? 1
        var rank = max(1, smallest)
        while true {
            let decision = try planner.decide(tasks: sizes, budget: budget, mergedRank: rank)
            if decision.clusterCount >= 2 || rank == 1 { return (decision.mergedRank, decision) }
            rank -= 1
        }
    }

    /// A uniformly random assignment of n tasks to k non-empty clusters (seeded).
    static func randomAssignment(n: Int, k: Int, seed: UInt64) -> [Int] {
        var generator = SeededGenerator(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ 17)
        let order = (0..<n).shuffled(using: &generator)
        var assignment = [Int](repeating: 0, count: n)
        for (position, task) in order.enumerated() {
            assignment[task] = position < k ? position : Int(generator.next() % UInt64(k))
        }
        return assignment
    }

    // MARK: - Results

    struct ServedCluster {
        let members: [Int]
        let adapter: LoRAAdapter
        let usesOwnAdapter: Bool

        static func of(_ plan: ClusterPlan, names: [String]) -> [ServedCluster] {
            let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
            return plan.clusters.map { cluster in
                ServedCluster(members: cluster.members.compactMap { index[$0] }, adapter: cluster.adapter,
                              usesOwnAdapter: cluster.usesOwnAdapter)
            }
        }
    }

    /// Held-out accuracies of one served set.
    struct Outcome {
        let names: [String]
        let acc: [Double]
        let own: [Double]
        let base: [Double]
        let clusters: [[String]]

        var accuracyRatio: [Double] { zip(acc, own).map { $0 / $1 } }
        /// nil for a task whose own adapter is not better than the base model.
        var gainRatio: [Double?] {
            acc.indices.map { i in own[i] - base[i] > 0 ? (acc[i] - base[i]) / (own[i] - base[i]) : nil }
        }
    }

    struct Summary {
        let base: String
        let fraction: Double
        let k: Int
        /// The merged rank, or the range of per-cluster ranks ("1–4").
        let rank: String
        let method: String
        let outcomes: [Outcome]
        let evaluations: Int

        private func stats(_ values: (Outcome) -> [Double?]) -> (mean: Double, worst: Double, worstTask: String) {
            var means: [Double] = []
            var worst = Double.infinity
            var worstTask = ""
            for outcome in outcomes {
                let v = values(outcome)
                let present = v.compactMap { $0 }
                means.append(present.reduce(0, +) / Double(max(1, present.count)))
                for (i, x) in v.enumerated() { if let x, x < worst { worst = x; worstTask = outcome.names[i] } }
            }
            return (means.reduce(0, +) / Double(max(1, means.count)), worst, worstTask)
        }

        var accuracy: (mean: Double, worst: Double, worstTask: String) { stats { $0.accuracyRatio.map { $0 } } }
        var gain: (mean: Double, worst: Double, worstTask: String) { stats { $0.gainRatio } }
        var meanAccuracy: Double { stats { $0.acc.map { $0 } }.mean }
        /// Spread of the mean gain ratio over seeds (random only).
        var gainRange: (Double, Double)? {
            guard outcomes.count > 1 else { return nil }
            let means = outcomes.map { o in
                let p = o.gainRatio.compactMap { $0 }
                return p.reduce(0, +) / Double(max(1, p.count))
            }
            return (means.min() ?? 0, means.max() ?? 0)
        }
    }

    static func printTable(_ rows: [Summary]) {
        print("| base | budget | K | rank | method | mean acc. | acc. ratio mean | acc. ratio worst (task) | gain ratio mean | gain ratio worst (task) | few evals |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rows {
            let a = r.accuracy
            let g = r.gain
            let range = r.gainRange.map { " (seeds \(f3($0.0))–\(f3($0.1)))" } ?? ""
            print("| \(r.base) | \(BudgetFractions.text(r.fraction)) | \(r.k) | \(r.rank) | \(r.method)"
                  + "\(r.outcomes.count > 1 ? " ×\(r.outcomes.count)" : "") | \(f3(r.meanAccuracy)) | \(f3(a.mean)) | "
                  + "\(f3(a.worst)) (\(a.worstTask)) | \(f3(g.mean))\(range) | \(f3(g.worst)) (\(g.worstTask)) | "
                  + "\(r.method.hasPrefix("refined") ? String(r.evaluations) : "–") |")
        }
    }

    /// The corpus as a whole: per budget and method, means over every task of every base (each base's
    /// mean weighted by its task count; random: the mean over seeds of that), worst over all.
    static func printCorpusTable(_ rows: [Summary]) {
        print("")
        print("== the corpus as a whole (every task of every base)")
        print("| budget | method | tasks | acc. ratio mean | acc. ratio worst | gain ratio mean | gain ratio worst |")
        print("|---|---|---|---|---|---|---|")
        var keys: [String] = []
        var groups: [String: [Summary]] = [:]
        for row in rows {
            let key = "\(BudgetFractions.text(row.fraction))|\(row.method)"
            if groups[key] == nil { keys.append(key) }
            groups[key, default: []].append(row)
        }
        for key in keys {
            let group = groups[key]!
            let counts = group.map { Double($0.outcomes.first?.names.count ?? 0) }
            let total = counts.reduce(0, +)
            guard total > 0 else { continue }
            func pooled(_ value: (Summary) -> Double) -> Double {
                zip(group, counts).map { value($0) * $1 }.reduce(0, +) / total
            }
            let parts = key.split(separator: "|", maxSplits: 1).map(String.init)
            print("| \(parts[0]) | \(parts[1]) | \(Int(total)) | \(f3(pooled { $0.accuracy.mean })) | "
                  + "\(f3(group.map(\.accuracy.worst).min()!)) | \(f3(pooled { $0.gain.mean })) | "
                  + "\(f3(group.map(\.gain.worst).min()!)) |")
        }
    }

    static func refinedLabel(_ mode: ClusterRefiner.CandidateMerge) -> String {
        mode == .withTask ? "refined (few, with task)" : "refined (few, current merges)"
    }

    static func f2(_ x: Double) -> String { String(format: "%.2f", x) }
    static func f3(_ x: Double) -> String { String(format: "%.3f", x) }
}

/// The corpus tasks of one base model, each with one benign adapter, as the quality and routing
/// benchmarks use them.
struct CorpusTaskSet {
    static let selectionRule = "the first benign adapter of the task in manifest order"

    enum Split { case few, test }

    struct Task {
        let name: String
        let adapterID: String
        let adapter: LoRAAdapter
        /// Bytes of adapter_config.json + adapter_model.safetensors as stored.
        let ownBytes: Int
        let fewFile: String
        let testFile: String
        let few: [TaskExample]
        let test: [TaskExample]
        let manifestBaseAccuracy: Double

        func profile(examples split: Split) -> TaskProfile {
            TaskProfile(name: name, version: 1, adapter: adapter,
                        examples: (split == .few ? few : test).map(\.text),
                        examplesFile: split == .few ? fewFile : testFile, ownBytes: ownBytes)
        }
    }

    let base: String
    let tasks: [Task]

    private struct Manifest: Decodable {
        struct Adapter: Decodable {
            let id: String
            let path: String
            let base_model: String
            let task: String
            let poisoned: Bool
        }
        struct TaskInfo: Decodable {
            let files: String
            let base_accuracy: [String: Double]
        }
        let adapters: [Adapter]
        let tasks: [String: TaskInfo]
    }

    /// Tasks of `base` (manifest `base_model`: minilm or llama-tiny) that have a benign adapter, in
    /// manifest task order, with the first benign adapter of each.
    static func load(corpus: String, base: String) throws -> CorpusTaskSet {
        let root = URL(fileURLWithPath: corpus)
        let manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: root.appendingPathComponent("manifest.json")))
        var chosen: [String: Manifest.Adapter] = [:]
        var order: [String] = []
        for adapter in manifest.adapters where !adapter.poisoned && adapter.base_model == base && chosen[adapter.task] == nil {
            chosen[adapter.task] = adapter
            order.append(adapter.task)
        }
        guard !order.isEmpty else { throw ValidationError("the corpus has no benign adapter of base '\(base)'") }
        let taskOrder = manifest.tasks.keys.sorted().filter { chosen[$0] != nil }
        let tasks = try taskOrder.map { name -> Task in
            let entry = chosen[name]!
            guard let info = manifest.tasks[name] else { throw ValidationError("task \(name) is not in the manifest") }
            let directory = root.appendingPathComponent(entry.path)
            let adapter = try PEFTAdapterLoader.load(directory: directory)
            var bytes = 0
            for file in ["adapter_config.json", "adapter_model.safetensors"] {
                let attributes = try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent(file).path)
                bytes += (attributes[.size] as? Int) ?? 0
            }
            let taskDirectory = root.appendingPathComponent(info.files)
            let fewURL = taskDirectory.appendingPathComponent("few.jsonl")
            let testURL = taskDirectory.appendingPathComponent("test.jsonl")
            return Task(name: name, adapterID: entry.id, adapter: adapter, ownBytes: bytes,
                        fewFile: fewURL.standardizedFileURL.path, testFile: testURL.standardizedFileURL.path,
                        few: try ExamplesFile.load(contentsOf: fewURL), test: try ExamplesFile.load(contentsOf: testURL),
                        manifestBaseAccuracy: info.base_accuracy[base] ?? .nan)
        }
        return CorpusTaskSet(base: base, tasks: tasks)
    }
}
