@testable import AdapterCore
@testable import AdapterTraining
import Foundation
import Testing

/// The detector on the committed corpus (data/corpus): trained on some tasks with the shipped
/// base-model feature set and options, judged on the adapters of tasks it never saw. Only the
/// llama-tiny adapters are used, because llama-tiny is the base model committed with the corpus
/// (MiniLM's embeddings come from a Python package, not from the repository).
@Suite("DetectorCorpus")
struct DetectorCorpusTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let manifestURL = packageRoot.appendingPathComponent("data/corpus/manifest.json")

    /// llama-tiny corpus adapters featurised with the built-in base-model model's feature set.
    static func llamaExamples(featureSet: DetectorFeatureSet) throws -> [LabelledFeatures] {
        let full = try CorpusManifest.load(manifestURL)
        let base = try #require(full.baseModelDirectories["llama-tiny"], "the manifest names the llama-tiny base")
        let table = try TokenEmbeddingTable.load(directory: base)
        var manifest = full
        manifest.entries = full.entries.filter { $0.baseModel == "llama-tiny" }
        return try #require(try CorpusFeaturizer.features(of: manifest, featureSets: [featureSet], tokenTables: [table],
                                                          jobs: 2)[featureSet])
    }

    @Test("on real adapters, poisoned ones read input directions closer to single tokens than benign ones")
    func alignmentSeparatesRealAdapters() throws {
        let examples = try Self.llamaExamples(featureSet: .alignment)
        let i = try #require(TokenAlignmentFeatures.names.firstIndex(of: "align.q.L0.top1first"))
        let auc = ClassificationMetrics.auc(scores: examples.map { $0.features.values[i] }, labels: examples.map(\.poisoned))
        // No training involved; measured 0.75 on the committed corpus (0.81 on its MiniLM adapters).
        #expect(auc >= 0.65, "AUC of align.q.L0.top1first on llama-tiny adapters: \(auc)")
    }

    /// A regression guard more than a quality claim: on llama-tiny alone (10 benign, 28 poisoned adapters,
    /// hidden size 128, so a random direction already matches some of the 921 tokens well) the held-out
    /// signal is weak — leave-one-task-out AUC 0.54 with the shipped options, against 0.73 on the whole
    /// corpus (docs/DETECTOR.md). Broken features or leakage-free training that stopped working would
    /// push it to or below chance or make the model flag benign adapters.
    @Test("trained on other tasks with the shipped feature set, it scores held-out adapters above chance and spares benign ones")
    func heldOutTasks() throws {
        let shipped = try #require(try DefaultDetectorModels.withTokens())
        let fs = try #require(DetectorFeatureSet(rawValue: shipped.featureSet))
        let options = DetectorTrainingOptions(featureSet: fs, l2: shipped.l2, thresholdPolicy: shipped.thresholdPolicy,
                                              useBenignBank: shipped.bank != nil)
        let examples = try Self.llamaExamples(featureSet: fs)
        #expect(examples.count >= 30)
        // Leave one task out over the llama-tiny adapters: every fold refits everything on the other tasks.
        let folds = CrossValidation.leaveOneGroupOut(groups: examples.map(\.group))
        let report = try DetectorTrainer.crossValidate(examples, folds: folds, scheme: "leave-one-task-out",
                                                       options: options)
        let c = report.confusion
        print("llama-tiny LOTO (\(fs.rawValue)): AUC \(report.auc), TPR \(c.truePositiveRate), FPR \(c.falsePositiveRate), \(c)")
        #expect(report.auc > 0.5, "held-out AUC \(report.auc)")
        #expect(c.falsePositiveRate <= 0.2, "held-out false-positive rate \(c.falsePositiveRate)")
        #expect(report.outOfDistributionCount == 0)
    }
}
