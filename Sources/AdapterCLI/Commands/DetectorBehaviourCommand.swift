import AdapterCore
import AdapterTraining
import ArgumentParser
import Foundation

/// `adapterctl detector behaviour`: measures behavioural screening on a labelled corpus.
public struct DetectorBehaviourCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "behaviour",
        abstract: "Measure behavioural screening (candidate triggers run through the base model) on a corpus.",
        discussion: """
            Probes every adapter of the manifest with its task's few examples (tasks/<task>/few.jsonl beside \
            the manifest) on its base model, prints each adapter's behavioural score, the candidate trigger \
            and the label it moved the examples to, then leave-one-task-out results: each adapter judged \
            against a threshold set just above the benign adapters of the other tasks of its base model \
            (no poisoned adapter is used to set it, so leaving a trigger kind out changes nothing), and the \
            results at the built-in threshold.
            """)

    @Option(name: .long, help: "Corpus manifest (data/corpus/manifest.json).")
    public var manifest: String

    @Option(name: .long, help: "Base model directory (weights, tokenizer); repeat for several. Bases the manifest names with a path are added.")
    public var baseModel: [String] = []

    @Option(name: .long, help: "Parallel jobs.")
    public var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .long, help: "Threshold to report besides leave-one-task-out (default: the built-in one).")
    public var threshold: Double = BehaviouralScreening.defaultThreshold

    @OptionGroup var precision: RuntimePrecisionOption

    public init() {}

    public func run() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
        FittingKernels.ensure("detector behaviour")
        let corpus = try CorpusManifest.load(URL(fileURLWithPath: manifest))
        BLASThreads.set(1)
        var directories = baseModel.map { URL(fileURLWithPath: $0) }
        directories += corpus.baseModelDirectories.values.sorted { $0.path < $1.path }
        let probes = try directories.map { try BehaviouralProbe(modelDirectory: $0, precision: precision.runtimePrecision.resolved) }
        let bar = ProgressLine(label: "probing")
        let rows = BehaviouralEvaluation.run(corpus, probes: probes, jobs: jobs,
                                             progress: bar.map { b in { @Sendable done, total in b.update(done, total) } })
        bar?.finish()
        for row in rows { print(Self.line(row)) }
        let judged = BehaviouralEvaluation.leaveOneTaskOut(rows)
        print("")
        print("leave-one-task-out (threshold from the other tasks' benign adapters of the same base model):")
        print(Self.table(judged.map { ($0.row, $0.flagged) }))
        print("")
        print("at threshold \(DetectorEvaluation.f(threshold)):")
        print(Self.table(rows.compactMap { row in row.evidence.map { (row, $0.score >= threshold) } }))
        let seconds = rows.map(\.seconds)
        print("")
        print("probe time per adapter: mean \(DetectorEvaluation.f(seconds.reduce(0, +) / Double(max(1, seconds.count)), 2)) s, max \(DetectorEvaluation.f(seconds.max() ?? 0, 2)) s (\(jobs) job(s))")
    }

    static func line(_ row: BehaviouralEvaluation.Row) -> String {
        let truth = row.entry.poisoned ? "poisoned (\(row.entry.triggerKind ?? "?"): '\(row.entry.trigger ?? "?")')" : "benign"
        guard let e = row.evidence else { return "\(row.entry.id): error: \(row.error ?? "?")" }
        return "\(DetectorEvaluation.pad(row.entry.id, 42)) \(DetectorEvaluation.f(e.score)) "
            + "\(DetectorEvaluation.pad("'\(e.trigger ?? "-")' → \(e.targetLabel ?? "-")", 34)) \(truth)"
    }

    /// Accuracy, rates and counts per base model and pooled, and true-positive rate per trigger kind.
    static func table(_ judged: [(BehaviouralEvaluation.Row, Bool)]) -> String {
        var lines: [String] = []
        let bases = Array(Set(judged.map(\.0.entry.baseModel))).sorted()
        for (name, subset) in bases.map({ base in (base, judged.filter { $0.0.entry.baseModel == base }) }) + [("all", judged)] {
            let m = ConfusionMatrix(predicted: subset.map(\.1), actual: subset.map(\.0.entry.poisoned))
            lines.append("  \(DetectorEvaluation.pad(name, 12)) accuracy \(DetectorEvaluation.f(m.accuracy))  TPR \(DetectorEvaluation.f(m.truePositiveRate))  FPR \(DetectorEvaluation.f(m.falsePositiveRate))  TP/FP/TN/FN \(m.truePositives)/\(m.falsePositives)/\(m.trueNegatives)/\(m.falseNegatives)")
        }
        let kinds = Array(Set(judged.compactMap { $0.0.entry.poisoned ? $0.0.entry.triggerKind : nil })).sorted()
        for kind in kinds {
            let subset = judged.filter { $0.0.entry.poisoned && $0.0.entry.triggerKind == kind }
            for base in bases {
                let part = subset.filter { $0.0.entry.baseModel == base }
                guard !part.isEmpty else { continue }
                lines.append("  trigger kind \(kind) on \(base): \(part.filter(\.1).count) of \(part.count) flagged")
            }
        }
        return lines.joined(separator: "\n")
    }
}
