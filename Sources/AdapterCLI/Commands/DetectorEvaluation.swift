import AdapterCore
import AdapterTraining
import Foundation

/// Cross-validation schemes and the tables `adapterctl detector eval` prints.
enum DetectorEvaluation {
    /// Stratified 5-fold, leave-one-task-out and (with two or more trigger kinds among the poisoned
    /// adapters) leave-one-trigger-kind-out splits of a corpus.
    static func schemes(_ examples: [LabelledFeatures]) -> [(String, [CrossValidationFold])] {
        schemes(labels: examples.map(\.poisoned), tasks: examples.map(\.group), triggerKinds: examples.map(\.triggerKind))
    }

    static func schemes(labels: [Bool], tasks: [String], triggerKinds: [String?]) -> [(String, [CrossValidationFold])] {
        let byKind = CrossValidation.leaveOneKindOut(labels: labels, kinds: triggerKinds)
        return [("stratified 5-fold", CrossValidation.stratifiedKFold(labels: labels, k: 5)),
                ("leave-one-task-out", CrossValidation.leaveOneGroupOut(groups: tasks))]
            + (byKind.isEmpty ? [] : [("leave-one-trigger-kind-out", byKind)])
    }

    static func f(_ v: Double, _ digits: Int = 3) -> String {
        v.isFinite ? String(format: "%.\(digits)f", v) : "n/a"
    }

    static func pad(_ s: String, _ n: Int) -> String {
        s.count >= n ? s : s + String(repeating: " ", count: n - s.count)
    }

    static func header(manifest: CorpusManifest, examples: [LabelledFeatures], policy: ThresholdPolicy, l2: Double) -> String {
        let tasks = Set(examples.map(\.group)).count
        let bases = Array(Set(examples.map(\.baseModel))).sorted().joined(separator: ", ")
        return """
            corpus \(manifest.url.path): \(examples.count) adapters (\(examples.filter(\.poisoned).count) poisoned), \(tasks) tasks, base models: \(bases)
            threshold policy: \(policy.description); L2 penalty \(l2)
            flagged = poisoned or out-of-distribution; AUC from out-of-fold scores
            """
    }

    /// AUC of the out-of-fold scores of one base-model profile's adapters only (n/a without both classes).
    static func auc(_ report: CrossValidationReport, profiles: [String], profile: String) -> Double {
        let idx = report.labels.indices.filter { $0 < profiles.count && profiles[$0] == profile }
        let labels = idx.map { report.labels[$0] }
        guard labels.contains(true), labels.contains(false) else { return .nan }
        return ClassificationMetrics.auc(scores: idx.map { report.scores[$0].isFinite ? report.scores[$0] : 2 }, labels: labels)
    }

    /// The side-by-side table; `profiles` (base-model profile of each adapter, in report order) adds the
    /// AUC within each profile, so a feature set cannot look good only by telling base models apart.
    static func sideBySide(_ reports: [(DetectorFeatureSet, [CrossValidationReport])], profiles: [String] = []) -> String {
        var lines: [String] = []
        let col = 18, schemeWidth = 28, rowWidth = 23
        var head = pad("", schemeWidth + rowWidth)
        for (fs, _) in reports { head += pad(fs.rawValue, col) }
        lines.append(head)
        guard let schemes = reports.first?.1.map(\.scheme) else { return "" }
        for (si, scheme) in schemes.enumerated() {
            let rows: [(String, (CrossValidationReport) -> String)] = [
                ("accuracy", { f($0.accuracy) }),
                ("AUC", { f($0.auc) }),
                ("false-positive rate", { f($0.confusion.falsePositiveRate) }),
                ("true-positive rate", { f($0.confusion.truePositiveRate) }),
                ("out-of-distribution", { "\($0.outOfDistributionCount)" }),
                ("confusion TP/FP/TN/FN", { c in
                    let m = c.confusion
                    return "\(m.truePositives)/\(m.falsePositives)/\(m.trueNegatives)/\(m.falseNegatives)"
                }),
            ]
            for (ri, (name, value)) in rows.enumerated() {
                var line = pad(ri == 0 ? scheme : "", schemeWidth) + pad(name, rowWidth)
                for (_, rs) in reports { line += pad(value(rs[si]), col) }
                lines.append(line)
            }
            for profile in Array(Set(profiles)).sorted() {
                var line = pad("", schemeWidth) + pad("AUC \(profile)", rowWidth)
                for (_, rs) in reports { line += pad(f(auc(rs[si], profiles: profiles, profile: profile)), col) }
                lines.append(line)
            }
        }
        // Per-task leave-one-task-out accuracy.
        if let loto = reports.first?.1.firstIndex(where: { $0.scheme == "leave-one-task-out" }) {
            lines.append("")
            lines.append(pad("leave-one-task-out by task", 50) + reports.map { pad($0.0.rawValue, col) }.joined())
            let per = reports.map { $0.1[loto].perGroup }
            for (i, g) in per[0].enumerated() {
                var line = pad("  \(g.group) (\(g.count), \(g.poisoned) poisoned)", 50)
                for p in per { line += pad(f(p[i].accuracy, 2), col) }
                lines.append(line)
            }
        }
        return lines.joined(separator: "\n")
    }

    static func perAdapter(_ reports: [(DetectorFeatureSet, [CrossValidationReport])]) -> String {
        guard let first = reports.first,
              let loto = first.1.firstIndex(where: { $0.scheme == "leave-one-task-out" }) else { return "" }
        var lines = ["", "leave-one-task-out decisions (score / threshold):"]
        let ids = first.1[loto].ids
        for i in ids.indices {
            var line = pad("  \(ids[i]) [\(first.1[loto].labels[i] ? "poisoned" : "benign")]", 56)
            for (_, rs) in reports {
                let r = rs[loto]
                line += pad("\(r.decisions[i].rawValue) \(f(r.scores[i], 3))/\(f(r.thresholds[i], 3))", 34)
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }

    /// JSON lines: one object per adapter with id, task, label, profile, rank and each set's features.
    static func dump(_ features: [DetectorFeatureSet: [LabelledFeatures]], sets: [DetectorFeatureSet]) throws -> Data {
        guard let first = features[sets[0]] else { return Data() }
        var out = Data()
        for i in first.indices {
            var o: [String: Any] = ["id": first[i].id, "task": first[i].group, "poisoned": first[i].poisoned,
                                    "profile": first[i].features.profile.key, "rank": first[i].features.rank]
            for s in sets {
                guard let f = features[s]?[i] else { continue }
                o[s.rawValue] = Dictionary(uniqueKeysWithValues: zip(f.features.names, f.features.values.map { $0.isFinite ? $0 : 0 }))
            }
            out += try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .withoutEscapingSlashes])
            out += Data("\n".utf8)
        }
        return out
    }
}
