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

    @Option(help: "The corpus directory (manifest.json, adapters/, tasks/).")
    var corpus = "data/corpus"

    @Option(help: "Evaluator argv, split at spaces (no shell); placeholders {adapter_dir} {examples} {task} {task_version}.")
    var evaluator = "python3 tools/corpus/headeval.py {adapter_dir} {examples}"

    @Option(help: "Evaluator argv for the few examples that drive refinement and plan choice (default: --evaluator). The test accuracies always come from --evaluator.")
    var fewEvaluator: String?

    @Option(help: "Seconds before one evaluation is killed.")
    var timeout = 600.0

    @Option(help: "Base models, comma-separated (manifest base_model values).")
    var bases = "minilm,llama-tiny"

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
        let argv = evaluator.split(separator: " ").map(String.init)
        guard let mergeWeighting = MergeWeighting(rawValue: weighting) else {
            throw ValidationError("--weighting must be one of \(MergeWeighting.allCases.map(\.rawValue))")
        }
        let fewArgv = (fewEvaluator ?? evaluator).split(separator: " ").map(String.init)
        let external = try ExternalCommandEvaluator(arguments: argv, timeout: timeout)
        let fewEvaluator = CachingEvaluator(try ExternalCommandEvaluator(arguments: fewArgv, timeout: timeout))
        let testEvaluator = CachingEvaluator(external)
        let fractionList = try fractions.split(separator: ",").map { text -> Double in
            guard let f = Double(text), f > 0 else { throw ValidationError("bad budget fraction '\(text)'") }
            return f
        }
        let started = Date()
        print("quality benchmark: corpus \(corpus), evaluator: \(argv.joined(separator: " "))")
        if fewArgv != argv { print("few-example evaluator: \(fewArgv.joined(separator: " "))") }
        print("merge: svd, weighting \(mergeWeighting.rawValue), c = \(candidates), ≤ \(rounds) rounds, "
              + "\(randomSeeds) random seeds, OpenBLAS threads 1")
        var summaries: [Summary] = []
        var records: [[String: Any]] = []
        for base in bases.split(separator: ",").map(String.init) {
            let set = try CorpusTaskSet.load(corpus: corpus, base: base)
            let tasks = set.tasks
            let n = tasks.count
            let fewProfiles = try ModuleUnionPadding.pad(tasks.map { $0.profile(examples: .few) })
            let testProfiles = tasks.map { $0.profile(examples: .test) }
            let planner = try BudgetPlanner(tasks: fewProfiles)
            let similarity = try TaskSimilarity.compute(names: fewProfiles.map(\.name), adapters: fewProfiles.map(\.adapter))
            let sizes = fewProfiles.map {
                BudgetPlanner.TaskSize(name: $0.name, ownBytes: $0.ownBytes, rank: $0.adapter.modules.map(\.rank).max() ?? 1)
            }
            let ownTotal = sizes.reduce(0) { $0 + $1.ownBytes }
            print("")
            print("== \(base): \(n) tasks, one benign adapter each (\(CorpusTaskSet.selectionRule)); own adapters "
                  + "\(ownTotal) bytes; ranks \(sizes.map(\.rank))")

            // References on test.jsonl: each task's own adapter and the base model (an all-zero update).
            let zero = planner.template(rank: 1)
            var ownAcc: [Double] = []
            var baseAcc: [Double] = []
            for i in 0..<n {
                ownAcc.append(try await testEvaluator.score(task: testProfiles[i], candidate: tasks[i].adapter))
                baseAcc.append(try await testEvaluator.score(task: testProfiles[i], candidate: zero))
            }
            print("test accuracy own / base: " + (0..<n).map {
                "\(tasks[$0].name) \(Self.f2(ownAcc[$0]))/\(Self.f2(baseAcc[$0]))"
            }.joined(separator: ", "))
            let mismatched = (0..<n).filter { abs(baseAcc[$0] - tasks[$0].manifestBaseAccuracy) > 1e-9 }
            print("base accuracy vs manifest: " + (mismatched.isEmpty ? "identical for every task"
                : "differs for \(mismatched.map { tasks[$0].name })"))

            for fraction in fractionList {
                let budget = Int(Double(ownTotal) * fraction)
                if allocateRanks {
                    let (rows, rowRecords) = try await runAllocated(
                        base: base, fraction: fraction, budget: budget, names: tasks.map(\.name),
                        fewProfiles: fewProfiles, testProfiles: testProfiles, planner: planner, similarity: similarity,
                        ownAcc: ownAcc, baseAcc: baseAcc, fewEvaluator: fewEvaluator, testEvaluator: testEvaluator)
                    summaries += rows
                    records += rowRecords
                    Self.printTable(rows)
                    continue
                }
                let defaultDecision = try planner.decide(tasks: sizes, budget: budget)
                let (rank, decision) = try self.rank.map { r in
                    let d = try planner.decide(tasks: sizes, budget: budget, mergedRank: r)
                    return (d.mergedRank, d)
                } ?? Self.mergedRank(planner: planner, sizes: sizes, budget: budget)
                print("")
                print("-- \(base), budget \(Self.fractionText(fraction)) = \(budget) bytes: planner default rank "
                      + "\(defaultDecision.mergedRank) → K = \(defaultDecision.clusterCount); used: rank \(rank) → "
                      + "K = \(decision.clusterCount) (\(decision.mergedBytes) bytes per merged adapter)")
                // What the rank alone costs: each own adapter truncated to the merged rank, unmerged.
                var truncated: [Double] = []
                for i in 0..<n {
                    let alone = try SVDClusterMerger().merge([fewProfiles[i].adapter], weights: [1], rank: rank)
                    truncated.append(try await testEvaluator.score(task: testProfiles[i], candidate: alone) / ownAcc[i])
                }
                print("own adapters truncated to rank \(rank), unmerged: accuracy ratio mean "
                      + "\(Self.f3(truncated.reduce(0, +) / Double(n))), worst \(Self.f3(truncated.min() ?? 0))")
                var options = ClusterRefiner.Options(maxRounds: rounds, candidateClusters: candidates,
                                                     weighting: mergeWeighting, seed: 0)
                options.parallelism = 1
                var served: [(method: String, seed: Int?, clusters: [ServedCluster], evaluations: Int, seconds: Double)] = []

                // (b) weight-space clustering alone: k-medoids + refinement under the weight-space evaluator.
                var clock = Date()
                let weightPlan = try await ClusterRefiner(evaluator: WeightSpaceEvaluator()).plan(
                    tasks: fewProfiles, budget: budget, planner: planner, mergedRank: rank, options: options,
                    similarity: similarity)
                served.append(("weight-space", nil, ServedCluster.of(weightPlan, names: fewProfiles.map(\.name)),
                               weightPlan.evaluations, Date().timeIntervalSince(clock)))

                // (a) data-driven refinement: the external evaluator on few.jsonl, from the same k-medoids
                // start, scoring a task against candidate clusters merged with it (as D2C re-merges) and,
                // for comparison, against their current merges (the refiner's default).
                for mode in [ClusterRefiner.CandidateMerge.withTask, .withoutTask] {
                    clock = Date()
                    var refineOptions = options
                    refineOptions.candidateMerge = mode
                    let label = Self.refinedLabel(mode)
                    let dataPlan = try await ClusterRefiner(evaluator: fewEvaluator).plan(
                        tasks: fewProfiles, budget: budget, planner: planner, mergedRank: rank, options: refineOptions,
                        similarity: similarity, progress: { _, message in
                            FileHandle.standardError.write(Data("  [\(base) \(Self.fractionText(fraction)) \(label)] \(message)\n".utf8))
                        })
                    served.insert((label, nil, ServedCluster.of(dataPlan, names: fewProfiles.map(\.name)),
                                   dataPlan.evaluations, Date().timeIntervalSince(clock)), at: served.count - 1)
                    print("\(label): \(dataPlan.rounds) rounds, \(dataPlan.evaluations) few-example evaluations, "
                          + "mean few-shot quality per round \(dataPlan.roundMeanQuality.map(Self.f3))")
                }

                // (c) random clusterings with the same K and rank.
                for seed in 1...max(1, randomSeeds) {
                    let assignment = Self.randomAssignment(n: n, k: decision.clusterCount, seed: UInt64(seed))
                    var noRounds = options
                    noRounds.maxRounds = 0
                    let result = try await ClusterRefiner(evaluator: WeightSpaceEvaluator()).refine(
                        tasks: fewProfiles, clusterCount: decision.clusterCount, mergedRank: decision.mergedRank,
                        options: noRounds, similarity: similarity, initialAssignment: assignment)
                    let serving = try planner.allocate(clusters: result.clusters, tasks: sizes, decision: decision)
                    let clusters = result.clusters.indices.map { c in
                        ServedCluster(members: result.clusters[c],
                                      adapter: serving[c].usesOwnAdapter ? fewProfiles[result.clusters[c][0]].adapter
                                                                         : result.adapters[c],
                                      usesOwnAdapter: serving[c].usesOwnAdapter)
                    }
                    served.append(("random", seed, clusters, 0, 0))
                }

                // Held-out scores of every served set.
                var perMethod: [String: [Outcome]] = [:]
                for entry in served {
                    var acc = [Double](repeating: 0, count: n)
                    for cluster in entry.clusters {
                        for i in cluster.members {
                            acc[i] = cluster.usesOwnAdapter
                                ? ownAcc[i]
                                : try await testEvaluator.score(task: testProfiles[i], candidate: cluster.adapter)
                        }
                    }
                    let outcome = Outcome(names: tasks.map(\.name), acc: acc, own: ownAcc, base: baseAcc,
                                          clusters: entry.clusters.map { $0.members.map { tasks[$0].name } })
                    perMethod[entry.method, default: []].append(outcome)
                    var record: [String: Any] = [
                        "base": base, "fraction": fraction, "budget": budget, "k": decision.clusterCount,
                        "rank": rank, "method": entry.method,
                        "clusters": outcome.clusters, "accuracy": Dictionary(uniqueKeysWithValues: zip(outcome.names, acc)),
                        "own_accuracy": Dictionary(uniqueKeysWithValues: zip(outcome.names, ownAcc)),
                        "base_accuracy": Dictionary(uniqueKeysWithValues: zip(outcome.names, baseAcc)),
                        "few_evaluations": entry.evaluations,
                    ]
                    if let seed = entry.seed { record["seed"] = seed }
                    records.append(record)
                    print("  \(entry.method)\(entry.seed.map { " seed \($0)" } ?? ""): clusters "
                          + outcome.clusters.map { "{" + $0.joined(separator: " ") + "}" }.joined(separator: " "))
                }
                for method in [Self.refinedLabel(.withTask), Self.refinedLabel(.withoutTask), "weight-space", "random"] {
                    guard let outcomes = perMethod[method] else { continue }
                    summaries.append(Summary(base: base, fraction: fraction, k: decision.clusterCount, rank: String(rank),
                                             method: method, outcomes: outcomes,
                                             evaluations: served.first { $0.method == method }?.evaluations ?? 0))
                }
                Self.printTable(summaries.filter { $0.base == base && $0.fraction == fraction })
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

    // MARK: - Per-cluster ranks

    /// One budget with `RankAllocatingPlanner`: weight-space = the best allocation over every K by
    /// weight-space quality; refined (few) = the best of the `candidates` best allocations by the
    /// external evaluator on few.jsonl, then the ranks of its clusters re-allocated by the evaluator's
    /// scores at ranks 1, 2, 4, … (kept if better); random = random clusterings with the weight-space plan's K,
    /// ranks allocated the same way.
    func runAllocated(
        base: String, fraction: Double, budget: Int, names: [String], fewProfiles: [TaskProfile],
        testProfiles: [TaskProfile], planner: BudgetPlanner, similarity: TaskSimilarity, ownAcc: [Double],
        baseAcc: [Double], fewEvaluator: CachingEvaluator, testEvaluator: CachingEvaluator
    ) async throws -> ([Summary], [[String: Any]]) {
        let n = names.count
        var options = RankAllocatingPlanner.Options(evaluatedPlans: candidates)
        options.weighting = MergeWeighting(rawValue: weighting) ?? .uniform
        var book = RankAllocatingPlanner.CurveBook()
        let weightPlanner = RankAllocatingPlanner()
        let all = try weightPlanner.candidates(tasks: fewProfiles, budget: budget, planner: planner, options: options,
                                               similarity: similarity, book: &book)
        print("")
        print("-- \(base), budget \(Self.fractionText(fraction)) = \(budget) bytes, per-cluster ranks; "
              + "candidates (K: ranks → weight-space mean quality):")
        for candidate in all {
            print("   K = \(candidate.clusterCount): ranks \(candidate.ranks)\(candidate.choices.contains { $0.usesOwnAdapter } ? " (own files: \(candidate.choices.filter(\.usesOwnAdapter).count))" : "") → \(Self.f3(candidate.meanQuality)), \(candidate.totalBytes) bytes")
        }
        var served: [(method: String, seed: Int?, plan: ClusterPlan, evaluations: Int)] = []
        var clock = Date()
        let weightPlan = try await weightPlanner.plan(tasks: fewProfiles, budget: budget, planner: planner,
                                                      options: options, similarity: similarity)
        print("weight-space: K = \(weightPlan.clusters.count), ranks \(weightPlan.clusters.map(\.rank)), "
              + "\(weightPlan.totalBytes) bytes, \(Self.f1(Date().timeIntervalSince(clock))) s")
        clock = Date()
        let label = "refined (few: best of \(candidates) plans, ranks by scores)"
        let dataPlan = try await RankAllocatingPlanner(evaluator: fewEvaluator).plan(
            tasks: fewProfiles, budget: budget, planner: planner, options: options, similarity: similarity,
            progress: { _, message in
                FileHandle.standardError.write(Data("  [\(base) \(Self.fractionText(fraction)) allocated] \(message)\n".utf8))
            })
        // roundMeanQuality: the scored candidates' weight-space quality, then the refinement rounds' mean
        // quality under the few-example evaluator.
        let scoredCount = min(candidates, all.count, dataPlan.roundMeanQuality.count)
        print("\(label): K = \(dataPlan.clusters.count), ranks \(dataPlan.clusters.map(\.rank)), \(dataPlan.totalBytes) bytes, "
              + "\(dataPlan.evaluations) few-example evaluations, weight-space quality of the plans scored "
              + "\(dataPlan.roundMeanQuality.prefix(scoredCount).map(Self.f3)), few-example quality of the refinement rounds "
              + "\(dataPlan.roundMeanQuality.dropFirst(scoredCount).map(Self.f3)), \(Self.f1(Date().timeIntervalSince(clock))) s")
        served.append((label, nil, dataPlan, dataPlan.evaluations))
        served.append(("weight-space", nil, weightPlan, 0))
        let k = weightPlan.clusters.count
        for seed in 1...max(1, randomSeeds) {
            let assignment = Self.randomAssignment(n: n, k: k, seed: UInt64(seed))
            var clusters = [[Int]](repeating: [], count: k)
            for (task, cluster) in assignment.enumerated() { clusters[cluster].append(task) }
            let candidate = try weightPlanner.allocate(clusters: clusters, tasks: fewProfiles, budget: budget,
                                                       planner: planner, options: options, similarity: similarity,
                                                       book: &book)
            let plan = try await weightPlanner.plan(candidate: candidate, tasks: fewProfiles, budget: budget,
                                                    planner: planner, options: options, similarity: similarity)
            served.append(("random", seed, plan, 0))
        }
        var perMethod: [String: [Outcome]] = [:]
        var records: [[String: Any]] = []
        for entry in served {
            let clusters = ServedCluster.of(entry.plan, names: names)
            var acc = [Double](repeating: 0, count: n)
            for cluster in clusters {
                for i in cluster.members {
                    acc[i] = cluster.usesOwnAdapter
                        ? ownAcc[i]
                        : try await testEvaluator.score(task: testProfiles[i], candidate: cluster.adapter)
                }
            }
            let outcome = Outcome(names: names, acc: acc, own: ownAcc, base: baseAcc,
                                  clusters: clusters.map { $0.members.map { names[$0] } })
            perMethod[entry.method, default: []].append(outcome)
            var record: [String: Any] = [
                "base": base, "fraction": fraction, "budget": budget, "k": entry.plan.clusters.count,
                "ranks": entry.plan.clusters.map(\.rank), "own_files": entry.plan.clusters.map(\.usesOwnAdapter),
                "bytes": entry.plan.totalBytes, "method": entry.method, "policy": "allocated",
                "clusters": outcome.clusters, "accuracy": Dictionary(uniqueKeysWithValues: zip(names, acc)),
                "own_accuracy": Dictionary(uniqueKeysWithValues: zip(names, ownAcc)),
                "base_accuracy": Dictionary(uniqueKeysWithValues: zip(names, baseAcc)),
                "few_evaluations": entry.evaluations,
            ]
            if let seed = entry.seed { record["seed"] = seed }
            records.append(record)
            print("  \(entry.method)\(entry.seed.map { " seed \($0)" } ?? ""): "
                  + zip(outcome.clusters, entry.plan.clusters).map { members, cluster in
                      "{" + members.joined(separator: " ") + "}@\(cluster.usesOwnAdapter ? "own" : String(cluster.rank))"
                  }.joined(separator: " "))
        }
        var rows: [Summary] = []
        for entry in [(label, dataPlan), ("weight-space", weightPlan)] {
            let ranks = entry.1.clusters.map(\.rank)
            rows.append(Summary(base: base, fraction: fraction, k: entry.1.clusters.count,
                                rank: Self.rankRange(ranks), method: entry.0, outcomes: perMethod[entry.0] ?? [],
                                evaluations: entry.0 == label ? dataPlan.evaluations : 0))
        }
        let randomRanks = served.filter { $0.method == "random" }.flatMap { $0.plan.clusters.map(\.rank) }
        rows.append(Summary(base: base, fraction: fraction, k: k, rank: Self.rankRange(randomRanks), method: "random",
                            outcomes: perMethod["random"] ?? [], evaluations: 0))
        return (rows, records)
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
            print("| \(r.base) | \(fractionText(r.fraction)) | \(r.k) | \(r.rank) | \(r.method)"
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
            let key = "\(fractionText(row.fraction))|\(row.method)"
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

    static func fractionText(_ f: Double) -> String {
        if abs(f - 0.25) < 1e-12 { return "1/4" }
        if abs(f - 0.125) < 1e-12 { return "1/8" }
        if abs(f - 0.5) < 1e-12 { return "1/2" }
        return String(format: "%.3g", f)
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
