import AdapterCore
import Foundation

/// Measures behavioural screening on a labelled corpus as an outsider would: every adapter is probed
/// with its task's few examples (`tasks/<task>/few.jsonl` beside the manifest), and the threshold
/// is set on benign adapters only — for leave-one-task-out, on the benign adapters of the other
/// tasks of the same base model (just above the largest of their scores). No poisoned adapter and no
/// trigger is seen when setting it, so leave-one-trigger-kind-out gives the same decisions.
public enum BehaviouralEvaluation {
    /// One adapter's outcome.
    public struct Row: Sendable {
        public var entry: CorpusManifest.Entry
        public var evidence: BehaviouralEvidence?
        public var error: String?
        public var seconds: Double
    }

    /// Probes every entry with the probe of its base model (`probes`: the first that reads it).
    public static func run(_ manifest: CorpusManifest, probes: [BehaviouralProbe], jobs: Int,
                           progress: (@Sendable (Int, Int) -> Void)? = nil) -> [Row] {
        let tasks = manifest.url.deletingLastPathComponent().appendingPathComponent("tasks")
        return ConcurrentWork.map(manifest.entries, jobs: jobs, progress: progress) { entry in
            let start = Date()
            do {
                let adapter = try CorpusFeaturizer.loadAdapter(entry.directory)
                guard let probe = BehaviouralScreening(probes: probes).probe(for: adapter) else {
                    throw DetectorError(.baseModelMismatch, "no --base-model reads this adapter (\(AdapterProfile(adapter: adapter).key))")
                }
                let examples = try ExamplesFile.load(contentsOf: tasks.appendingPathComponent(entry.task).appendingPathComponent("few.jsonl"))
                let evidence = try probe.probe(adapter, examples: examples, taskName: entry.id)
                return Row(entry: entry, evidence: evidence, error: nil, seconds: Date().timeIntervalSince(start))
            } catch {
                return Row(entry: entry, evidence: nil, error: "\(error)", seconds: Date().timeIntervalSince(start))
            }
        }
    }

    /// Leave-one-task-out decisions: each adapter judged against the threshold set on the benign
    /// adapters of the other tasks of its base model. Rows without evidence are left out.
    public static func leaveOneTaskOut(_ rows: [Row]) -> [(row: Row, threshold: Double, flagged: Bool)] {
        rows.compactMap { row in
            guard let score = row.evidence?.score else { return nil }
            let threshold = thresholdAbove(rows.filter {
                !$0.entry.poisoned && $0.entry.baseModel == row.entry.baseModel && $0.entry.task != row.entry.task
            })
            return (row, threshold, score >= threshold)
        }
    }

    /// Just above the largest benign score (so none of them is flagged); 1 when there are none.
    public static func thresholdAbove(_ benign: [Row]) -> Double {
        guard let top = benign.compactMap(\.evidence?.score).max() else { return 1 }
        return top + 1e-9
    }
}
