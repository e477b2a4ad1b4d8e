import AdapterCore
import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Clustering 200 synthetic tasks under a byte budget: times of similarity (factored vs a dense
/// baseline sampled and extrapolated in the same run), k-medoids and refinement rounds, and the
/// retained quality of refined vs k-medoids-only vs random clustering at the same budget.
struct ClusterBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Budgeted clustering of synthetic tasks: similarity, k-medoids, refinement, quality vs baselines.")

    @Option(help: "Number of tasks.") var tasks = 200
    @Option(help: "Number of task families (prototypes).") var families = 20
    @Option(help: "Layers (each with q_proj and v_proj).") var layers = 4
    @Option(help: "Hidden width (modules are width × width).") var width = 1024
    @Option(help: "Rank of every task's adapter.") var rank = 8
    @Option(help: "Noise of a task around its family prototype (relative).") var noise = 0.5
    @Option(help: "Largest share of a second family's prototype mixed into a task.") var mixing = 0.8
    @Option(help: "Budget as a fraction of storing every own adapter.") var budgetFraction = 0.125
    @Option(help: "Maximum refinement rounds.") var rounds = 5
    @Option(help: "Candidate clusters scored per task and round (c).") var candidates = 3
    @Option(help: "Random clusterings measured as the baseline.") var randomSeeds = 3
    @Option(help: "Task pairs on the dense similarity path (extrapolated; 0: none).") var denseSamplePairs = 3
    @Flag(inversion: .prefixedNo, help: "Also time the pairwise (N² small products) similarity baseline.")
    var pairwiseBaseline = true
    @Flag(help: "Stop after the similarity figures (no budget, k-medoids or refinement).") var similarityOnly = false
    @OptionGroup var compute: ComputeThreadOptions

    func run() async throws {
        BLASThreads.set(1)
        compute.apply()
        print("cluster benchmark: \(tasks) synthetic tasks in \(families) families, \(layers * 2) modules "
              + "\(width)×\(width), rank \(rank), budget \(budgetFraction) of storing all, OpenBLAS threads 1 "
              + "(\(BLASThreads.coreName)), compute threads \(ComputeThreads.count) (the pairwise baseline on one)")
        let (profiles, family) = Self.makeTasks(count: tasks, families: families, layers: layers, width: width,
                                                rank: rank, noise: noise, mixing: mixing)
        let similarity = try similarityFigures(profiles)
        if similarityOnly { return }
        try await planningFigures(profiles, family: family, similarity: similarity)
    }

    /// Similarity of every pair by the stacked Grams, beside the pairwise and dense methods, and one
    /// task added incrementally; prints the times and the largest cosine differences.
    func similarityFigures(_ profiles: [TaskProfile]) throws -> TaskSimilarity {
        let names = profiles.map(\.name)

        // Similarity: factored vs dense (sampled, extrapolated).
        let clock = ContinuousClock()
        let start = clock.now
        var cpu = Self.cpuSeconds()
        let similarity = try TaskSimilarity.compute(names: names, adapters: profiles.map(\.adapter))
        let factoredWall = Stopwatch.seconds(clock.now - start)
        let factoredSeconds = Self.cpuSeconds() - cpu
        print("similarity (factored, stacked Grams, \(tasks * (tasks + 1) / 2) pairs): \(Self.format(factoredSeconds)) CPU, "
              + "\(Self.format(factoredWall)) wall")
        if pairwiseBaseline {
            // The straightforward method: every pair's ⟨ΔWᵢ, ΔWⱼ⟩ from its own two r×r factor products.
            cpu = Self.cpuSeconds()
            var cosines: [(Int, Int, Double)] = []
            let adapters = profiles.map(\.adapter)
            var norms = [Double](repeating: 0, count: tasks)
            for i in 0..<tasks { norms[i] = Self.pairwiseInner(adapters[i], adapters[i]).squareRoot() }
            for i in 0..<tasks {
                for j in (i + 1)..<tasks {
                    cosines.append((i, j, Self.pairwiseInner(adapters[i], adapters[j]) / (norms[i] * norms[j])))
                }
            }
            let pairwise = Self.cpuSeconds() - cpu
            let worst = similarity.worstCosineDifference(cosines)
            print("similarity (pairwise factored products, the straightforward method, one thread): \(Self.format(pairwise)) CPU; "
                  + String(format: "stacked Grams %.1fx faster in CPU, %.1fx in wall time, max |cos difference| %.1e",
                           pairwise / factoredSeconds, pairwise / factoredWall, worst))
        }
        // One more task arriving: its row from N + 1 products per module, against computing all again.
        if tasks > 1 {
            let head = try TaskSimilarity.compute(names: Array(names.dropLast()), adapters: profiles.dropLast().map(\.adapter))
            cpu = Self.cpuSeconds()
            let grown = try head.adding(name: names[tasks - 1], adapter: profiles[tasks - 1].adapter,
                                        to: profiles.dropLast().map(\.adapter))
            let incremental = Self.cpuSeconds() - cpu
            let worst = similarity.worstCosineDifference((0..<tasks).map { ($0, tasks - 1, grown.cosine($0, tasks - 1)) })
            print("similarity, one task added to \(tasks - 1) (TaskSimilarity.adding): \(Self.format(incremental)) CPU "
                  + String(format: "(%.1fx less than computing all; max |cos difference| %.1e)", factoredSeconds / incremental, worst))
        }
        if denseSamplePairs > 0 {
            let dense = Self.denseSimilaritySeconds(profiles.map(\.adapter), pairs: denseSamplePairs)
            print("similarity (dense ΔW, \(denseSamplePairs) pairs measured, extrapolated): \(Self.format(dense.total)) CPU "
                  + "(form ΔW per task \(Self.format(dense.perTask)), dot per pair \(Self.format(dense.perPair)))")
            print(String(format: "speed-up factored vs dense similarity: %.1fx", dense.total / factoredSeconds))
            print(String(format: "max |cos factored − cos dense| on sampled pairs: %.1e", similarity.worstCosineDifference(dense.sampled)))
        }
        return similarity
    }

    /// The budget's K, k-medoids, refinement, random clusterings at the same K and rank, and refinement
    /// from a random start; prints times and retained quality.
    func planningFigures(_ profiles: [TaskProfile], family: [Int], similarity: TaskSimilarity) async throws {
        let clock = ContinuousClock()
        // Budget.
        let planner = try BudgetPlanner(tasks: profiles)   // sizes from PEFTAdapterWriter.byteSize
        let ownTotal = profiles.reduce(0) { $0 + $1.ownBytes }
        let budget = Int(Double(ownTotal) * budgetFraction)
        let sizes = profiles.map { BudgetPlanner.TaskSize(name: $0.name, ownBytes: $0.ownBytes, rank: rank) }
        let decision = try planner.decide(tasks: sizes, budget: budget)
        print("budget: \(budget) bytes of \(ownTotal) (own adapters, F16) → K = \(decision.clusterCount) "
              + "merged adapters of rank \(decision.mergedRank), \(decision.mergedBytes) bytes each")

        // k-medoids.
        var cpu = Self.cpuSeconds()
        let kmedoids = try KMedoids.cluster(distances: similarity.distanceMatrix, count: tasks,
                                            k: decision.clusterCount, seed: 1)
        print("k-medoids (K = \(decision.clusterCount), 4 restarts): \(Self.format(Self.cpuSeconds() - cpu)) CPU")
        print(String(format: "k-medoids purity vs families: %.3f", Self.purity(kmedoids.assignment, family)))

        // Refinement (weight-space evaluator, factored SVD merges).
        let refiner = ClusterRefiner(evaluator: WeightSpaceEvaluator(), merger: SVDClusterMerger())
        let stamps = ProgressLog()
        let start = clock.now
        cpu = Self.cpuSeconds()
        let plan = try await refiner.plan(
            tasks: profiles, budget: budget, planner: planner,
            options: .init(maxRounds: rounds, candidateClusters: candidates, seed: 1),
            similarity: similarity, progress: { fraction, message in stamps.add(fraction, message) })
        let refineSeconds = Self.cpuSeconds() - cpu
        let refineWall = Stopwatch.seconds(clock.now - start)
        for (time, message) in stamps.lines where message.hasPrefix("round") {
            print("  [\(Self.format(time))] \(message)")
        }
        print("refinement: \(plan.rounds) rounds, \(plan.evaluations) evaluations, \(Self.format(refineSeconds)) CPU, "
              + "\(Self.format(refineWall)) wall (k-medoids, merges of \(plan.roundMeanQuality.count) assignments, scoring)")
        print("served set: \(plan.clusters.count) adapters, \(plan.totalBytes) bytes of budget \(budget)")
        let startMean = plan.roundMeanQuality[0]
        print(String(format: "quality k-medoids only: mean %.4f", startMean))
        print(String(format: "quality refined:        mean %.4f, worst %.4f (%@)", plan.meanQuality,
                     plan.worstQuality, plan.worst?.name ?? "-"))

        // Random clustering at the same K and rank.
        var randomMeans: [Double] = []
        var randomWorst: [Double] = []
        for seed in 0..<randomSeeds {
            let assignment = Self.balancedRandomAssignment(n: tasks, k: decision.clusterCount, seed: UInt64(1000 + seed))
            let result = try await refiner.refine(
                tasks: profiles, clusterCount: decision.clusterCount, mergedRank: decision.mergedRank,
                options: .init(maxRounds: 0), similarity: similarity, initialAssignment: assignment)
            randomMeans.append(result.meanQuality)
            randomWorst.append(result.worstQuality)
        }
        print(String(format: "quality random (%d seeds): mean %.4f, worst %.4f", randomSeeds,
                     randomMeans.reduce(0, +) / Double(randomSeeds), randomWorst.min() ?? 0))

        // Refinement alone, started from the first random clustering instead of k-medoids.
        let randomStart = Self.balancedRandomAssignment(n: tasks, k: decision.clusterCount, seed: 1000)
        cpu = Self.cpuSeconds()
        let repaired = try await refiner.refine(
            tasks: profiles, clusterCount: decision.clusterCount, mergedRank: decision.mergedRank,
            options: .init(maxRounds: rounds, candidateClusters: candidates, seed: 1), similarity: similarity,
            initialAssignment: randomStart)
        print(String(format: "refinement from a random start: mean %.4f → %.4f in %d rounds (%d evaluations, %@ CPU); "
                     + "per round: %@", repaired.roundMeanQuality[0], repaired.meanQuality, repaired.rounds,
                     repaired.evaluations, Self.format(Self.cpuSeconds() - cpu),
                     repaired.roundMeanQuality.map { String(format: "%.3f", $0) }.joined(separator: " ")))
    }

    /// Tasks in families: prototype factors plus noise, each with a random scale in [1, 2].
    /// Each task: its family's prototype plus a random share (up to `mixing`) of another family's
    /// prototype, plus noise, so that families overlap and weight-space clusters are not clean.
    static func makeTasks(count: Int, families: Int, layers: Int, width: Int, rank: Int, noise: Double,
                          mixing: Double) -> (tasks: [TaskProfile], family: [Int]) {
        var g = SeededGenerator(seed: 42)
        let names = (0..<layers).flatMap { l in ["q_proj", "v_proj"].map { "model.layers.\(l).self_attn.\($0)" } }
        func gaussian(_ n: Int, _ s: Double) -> [Double] { (0..<n).map { _ in g.nextGaussian() * s } }
        let aScale = 1 / Double(width).squareRoot(), bScale = 0.02
        let prototypes: [[([Double], [Double])]] = (0..<families).map { _ in
            names.map { _ in (gaussian(rank * width, aScale), gaussian(width * rank, bScale)) }
        }
        var tasks: [TaskProfile] = []
        var family: [Int] = []
        for t in 0..<count {
            let f = t % families
            let other = (f + 1 + Int(g.next() % UInt64(max(1, families - 1)))) % families
            let share = mixing * g.nextUnitDouble()
            let scale = 1 + g.nextUnitDouble()
            let modules = names.enumerated().map { index, name in
                let (pa, pb) = prototypes[f][index]
                let (qa, qb) = prototypes[other][index]
                // A = A_f + share·A_o + noise, B = B_f + share·B_o + noise: ΔW holds share²·B_oA_o of
                // the other family (and cross terms), still at rank r.
                let a = Matrix(rows: rank, cols: width, elements: zip(pa, qa).map {
                    $0 + share * $1 + noise * aScale * g.nextGaussian() })
                let b = Matrix(rows: width, cols: rank, elements: zip(pb, qb).map {
                    $0 + share * $1 + noise * bScale * g.nextGaussian() })
                return LoRAModule(name: name, layer: index / 2, projection: index % 2 == 0 ? .q : .v,
                                  a: a, b: b, scale: scale)
            }
            let config = PEFTConfig(baseModelNameOrPath: "synthetic/mid-size", r: rank, loraAlpha: Double(rank),
                                    targetModules: ["q_proj", "v_proj"], taskType: "CAUSAL_LM")
            let tensorBytes = modules.count * 2 * rank * width * 2
            let adapter = LoRAAdapter(config: config, modules: modules, architecture: .llama, storageDType: .f16,
                                      tensorBytes: tensorBytes)
            let ownBytes = (try? PEFTAdapterWriter.byteSize(adapter, dtype: .f16)) ?? tensorBytes
            tasks.append(TaskProfile(name: "task-\(t)", version: 1, adapter: adapter, ownBytes: ownBytes))
            family.append(f)
        }
        return (tasks, family)
    }

    /// n tasks dealt round-robin into k clusters, then shuffled with the seed (sizes differ by at most one).
    static func balancedRandomAssignment(n: Int, k: Int, seed: UInt64) -> [Int] {
        var generator = SeededGenerator(seed: seed)
        var assignment = (0..<n).map { $0 % k }
        assignment.shuffle(using: &generator)
        return assignment
    }

    /// The dense path: form every module's ΔW of a few tasks and take flattened dot products.
    struct DenseTiming {
        var perTask: Double
        var perPair: Double
        var total: Double
        /// (i, j, dense cosine) of each sampled pair.
        var sampled: [(Int, Int, Double)]
    }

    static func denseSimilaritySeconds(_ adapters: [LoRAAdapter], pairs: Int) -> DenseTiming {
        let sample = Array(0...pairs)   // pairs + 1 tasks: (0,1), (1,2), …
        var start = cpuSeconds()
        // Per task: form every module's ΔW and its squared norm.
        let dense: [[Matrix]] = sample.map { i in adapters[i].modules.map { $0.b.multiplied(by: $0.a, alpha: $0.scale) } }
        let norms: [Double] = dense.map { $0.reduce(0) { $0 + $1.frobeniusNormSquared } }
        let perTask = (cpuSeconds() - start) / Double(sample.count)
        // Per pair: one flattened dot product over all modules.
        start = cpuSeconds()
        var sampled: [(Int, Int, Double)] = []
        for p in 0..<pairs {
            var dot = 0.0
            for (x, y) in zip(dense[p], dense[p + 1]) {
                x.elements.withUnsafeBufferPointer { xs in
                    y.elements.withUnsafeBufferPointer { ys in
                        for k in 0..<xs.count { dot += xs[k] * ys[k] }
                    }
                }
            }
            sampled.append((sample[p], sample[p + 1], dot / (norms[p] * norms[p + 1]).squareRoot()))
        }
        let perPair = (cpuSeconds() - start) / Double(max(1, pairs))
        let n = Double(adapters.count)
        return DenseTiming(perTask: perTask, perPair: perPair, total: perTask * n + perPair * n * (n - 1) / 2,
                           sampled: sampled)
    }

    /// Σ over modules of ⟨ΔW_x, ΔW_y⟩ from each module pair's two r×r products (modules in the same order).
    static func pairwiseInner(_ x: LoRAAdapter, _ y: LoRAAdapter) -> Double {
        var sum = 0.0
        for (mx, my) in zip(x.modules, y.modules) {
            let bb = mx.b.multiplied(by: my.b, transposeSelf: true)
            let aa = mx.a.multiplied(by: my.a, transposeOther: true)
            var s = 0.0
            for k in 0..<bb.elements.count { s += bb.elements[k] * aa.elements[k] }
            sum += mx.scale * my.scale * s
        }
        return sum
    }

    static func purity(_ assignment: [Int], _ family: [Int]) -> Double {
        let clusters = Dictionary(grouping: assignment.indices, by: { assignment[$0] })
        let majority = clusters.values.reduce(0) { sum, members in
            sum + (Dictionary(grouping: members, by: { family[$0] }).values.map(\.count).max() ?? 0)
        }
        return Double(majority) / Double(assignment.count)
    }

    /// CPU seconds used by the process so far (robust to other load on a shared machine).
    static func cpuSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }

    static func format(_ s: Double) -> String {
        s >= 1 ? String(format: "%.2f s", s) : String(format: "%.1f ms", s * 1000)
    }
}

/// Collects progress lines with their time since creation (the refiner calls it synchronously).
final class ProgressLog: @unchecked Sendable {
    private let lock = NSLock()
    private let start = ContinuousClock.now
    private var entries: [(Double, String)] = []

    func add(_ fraction: Double, _ message: String) {
        let t = Stopwatch.seconds(ContinuousClock.now - start)
        lock.lock(); entries.append((t, message)); lock.unlock()
    }

    var lines: [(Double, String)] { lock.lock(); defer { lock.unlock() }; return entries }
}

extension TaskSimilarity {
    /// The largest |cosine(i, j) − c| over (i, j, c) computed another way: how far apart the two are.
    func worstCosineDifference(_ references: [(Int, Int, Double)]) -> Double {
        references.map { abs(cosine($0.0, $0.1) - $0.2) }.max() ?? 0
    }
}
