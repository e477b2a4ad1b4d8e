import AdapterCore
import Foundation

/// One base model's corpus tasks as the quality benchmark scores them: few-example profiles (padded to
/// one module set) for planning, test profiles for held-out accuracy, and each task's own-adapter and
/// base-model accuracy on test.jsonl.
struct QualityBaseSet {
    let base: String
    let tasks: [CorpusTaskSet.Task]
    let fewProfiles: [TaskProfile]
    let testProfiles: [TaskProfile]
    let planner: BudgetPlanner
    let similarity: TaskSimilarity
    let sizes: [BudgetPlanner.TaskSize]
    /// Per task, on test.jsonl: its own adapter's accuracy and the base model's (an all-zero update).
    let ownAcc: [Double]
    let baseAcc: [Double]
    let testEvaluator: CachingEvaluator

    var names: [String] { tasks.map(\.name) }
    var count: Int { tasks.count }
    var ownTotal: Int { sizes.reduce(0) { $0 + $1.ownBytes } }

    /// Loads the tasks of `base`, scores the references on test.jsonl and prints them.
    static func load(corpus: String, base: String, testEvaluator: CachingEvaluator) async throws -> QualityBaseSet {
        let tasks = try CorpusTaskSet.load(corpus: corpus, base: base).tasks
        let fewProfiles = try ModuleUnionPadding.pad(tasks.map { $0.profile(examples: .few) })
        let testProfiles = tasks.map { $0.profile(examples: .test) }
        let planner = try BudgetPlanner(tasks: fewProfiles)
        let similarity = try TaskSimilarity.compute(names: fewProfiles.map(\.name), adapters: fewProfiles.map(\.adapter))
        let sizes = fewProfiles.map(BudgetPlanner.TaskSize.init(ownAdapterOf:))
        print("")
        print("== \(base): \(tasks.count) tasks, one benign adapter each (\(CorpusTaskSet.selectionRule)); own adapters "
              + "\(sizes.reduce(0) { $0 + $1.ownBytes }) bytes; ranks \(sizes.map(\.rank))")

        let zero = planner.template(rank: 1)
        var ownAcc: [Double] = []
        var baseAcc: [Double] = []
        for i in tasks.indices {
            ownAcc.append(try await testEvaluator.score(task: testProfiles[i], candidate: tasks[i].adapter))
            baseAcc.append(try await testEvaluator.score(task: testProfiles[i], candidate: zero))
        }
        print("test accuracy own / base: " + tasks.indices.map {
            "\(tasks[$0].name) \(QualityBench.f2(ownAcc[$0]))/\(QualityBench.f2(baseAcc[$0]))"
        }.joined(separator: ", "))
        let mismatched = tasks.indices.filter { abs(baseAcc[$0] - tasks[$0].manifestBaseAccuracy) > 1e-9 }
        print("base accuracy vs manifest: " + (mismatched.isEmpty ? "identical for every task"
            : "differs for \(mismatched.map { tasks[$0].name })"))
        return QualityBaseSet(base: base, tasks: tasks, fewProfiles: fewProfiles, testProfiles: testProfiles,
                              planner: planner, similarity: similarity, sizes: sizes, ownAcc: ownAcc,
                              baseAcc: baseAcc, testEvaluator: testEvaluator)
    }

    /// One served set scored on test.jsonl: its outcome and its JSON record, with the keys every run
    /// writes plus the run's own `extra` ones.
    func scoreHeldOut(_ clusters: [QualityBench.ServedCluster], method: String, seed: Int?, fraction: Double,
                      budget: Int, k: Int, fewEvaluations: Int,
                      extra: [String: Any]) async throws -> (outcome: QualityBench.Outcome, record: [String: Any]) {
        var acc = [Double](repeating: 0, count: count)
        for cluster in clusters {
            for i in cluster.members {
                acc[i] = cluster.usesOwnAdapter
                    ? ownAcc[i]
                    : try await testEvaluator.score(task: testProfiles[i], candidate: cluster.adapter)
            }
        }
        let names = self.names
        let outcome = QualityBench.Outcome(names: names, acc: acc, own: ownAcc, base: baseAcc,
                                           clusters: clusters.map { $0.members.map { names[$0] } })
        var record: [String: Any] = [
            "base": base, "fraction": fraction, "budget": budget, "k": k, "method": method,
            "clusters": outcome.clusters, "accuracy": Dictionary(uniqueKeysWithValues: zip(names, acc)),
            "own_accuracy": Dictionary(uniqueKeysWithValues: zip(names, ownAcc)),
            "base_accuracy": Dictionary(uniqueKeysWithValues: zip(names, baseAcc)),
            "few_evaluations": fewEvaluations,
        ]
        if let seed { record["seed"] = seed }
        record.merge(extra) { _, new in new }
        return (outcome, record)
    }
}

extension BudgetPlanner.TaskSize {
    /// A task's size as stored with its own adapter, at that adapter's largest module rank.
    init(ownAdapterOf profile: TaskProfile) {
        self.init(name: profile.name, ownBytes: profile.ownBytes, rank: profile.adapter.modules.map(\.rank).max() ?? 1)
    }
}
