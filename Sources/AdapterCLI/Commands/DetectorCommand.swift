import AdapterCore
import AdapterTraining
import ArgumentParser
import Foundation

/// `adapterctl detector`: train, evaluate and package weight-space poison detectors.
public struct DetectorCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "detector",
        abstract: "Train and evaluate the weight-space poison detector.",
        subcommands: [DetectorTrainCommand.self, DetectorEvalCommand.self, DetectorBehaviourCommand.self, DetectorEmitDefaultCommand.self])

    public init() {}
}

/// Options shared by `detector train` and `detector eval`.
public struct DetectorCorpusOptions: ParsableArguments {
    @Option(name: .long, help: "Corpus manifest (data/corpus/manifest.json).")
    public var manifest: String

    @Option(name: .long, help: "Feature set: baseline, extended, extended-tokens, alignment, extended-alignment (extended becomes extended-tokens when --base-model is given).")
    public var features: String = "extended"

    @Option(name: .long, help: "Base model directory (config.json, model.safetensors, vocab); repeat for several base models. Enables token-response features.")
    public var baseModel: [String] = []

    @Option(name: .long, help: "L2 penalty on standardised features.")
    public var l2: Double = 1.0

    @Option(name: .long, help: "Target false-positive rate for the threshold (chosen on training folds).")
    public var targetFpr: Double = 0.05

    @Flag(name: .long, help: "Do not z-score features against the benign bank (extended feature sets).")
    public var noBenignBank = false

    @Option(name: .long, help: "Parallel feature extraction jobs.")
    public var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    public init() {}

    /// The feature set asked for, upgraded to `extended-tokens` when base models are given.
    func featureSet() throws -> DetectorFeatureSet {
        guard var fs = DetectorFeatureSet(rawValue: features) else {
            throw ValidationError("unknown feature set '\(features)' (\(DetectorFeatureSet.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        if fs == .extended && !baseModel.isEmpty { fs = .extendedTokens }
        if fs.needsBaseModel && baseModel.isEmpty {
            throw ValidationError("feature set \(fs.rawValue) needs --base-model DIR")
        }
        return fs
    }

    func options(_ fs: DetectorFeatureSet) throws -> DetectorTrainingOptions {
        guard l2 > 0, l2.isFinite else { throw ValidationError("--l2 must be positive") }
        guard targetFpr >= 0, targetFpr < 1 else { throw ValidationError("--target-fpr must be in [0, 1)") }
        return DetectorTrainingOptions(featureSet: fs, l2: l2, thresholdPolicy: .fixedFalsePositiveRate(targetFpr),
                                       useBenignBank: fs.usesBenignBank && !noBenignBank)
    }

    func loadTables() throws -> [TokenEmbeddingTable] {
        try baseModel.map { try TokenEmbeddingTable.load(directory: URL(fileURLWithPath: $0)) }
    }
}

/// Loads and featurises a corpus with a progress line on a terminal.
enum DetectorCorpus {
    static func load(_ o: DetectorCorpusOptions, featureSets: [DetectorFeatureSet])
        throws -> (CorpusManifest, [DetectorFeatureSet: [LabelledFeatures]], [TokenEmbeddingTable]) {
        let manifest = try CorpusManifest.load(URL(fileURLWithPath: o.manifest))
        BLASThreads.set(1)
        let tables = try o.loadTables()
        let bar = ProgressLine(label: "featurising")
        let features = try CorpusFeaturizer.features(
            of: manifest, featureSets: featureSets, tokenTables: tables, jobs: max(1, o.jobs),
            progress: bar.map { b in { @Sendable done, total in b.update(done, total) } })
        bar?.finish()
        return (manifest, features, tables)
    }
}

/// `adapterctl detector train`.
public struct DetectorTrainCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a detector on a corpus manifest and write the model JSON.")

    @OptionGroup public var corpus: DetectorCorpusOptions

    @Option(name: .long, help: "Where to write the model JSON.")
    public var out: String

    @Flag(name: .long, help: "Skip the cross-validation recorded in the model's provenance.")
    public var noCrossValidation = false

    public init() {}

    public func run() throws {
        let fs = try corpus.featureSet()
        let options = try corpus.options(fs)
        try CLIFailure.reportingDetectorErrors {
            let (manifest, features, tables) = try DetectorCorpus.load(corpus, featureSets: [fs])
            let examples = features[fs] ?? []
            var metrics: [DetectorMetrics] = []
            if !noCrossValidation {
                for (scheme, folds) in DetectorEvaluation.schemes(examples) {
                    metrics.append(try DetectorTrainer.crossValidate(examples, folds: folds, scheme: scheme, options: options).metrics)
                }
            }
            let provenance = DetectorProvenance(
                corpus: manifest.url.lastPathComponent == "manifest.json"
                    ? manifest.url.deletingLastPathComponent().lastPathComponent + "/manifest.json" : manifest.url.lastPathComponent,
                baseModels: Array(Set(examples.map(\.baseModel))).sorted() + tables.map { "embeddings: \($0.source)" },
                trainedAt: ISO8601DateFormatter().string(from: Date()),
                trainingCount: examples.count, poisonedCount: examples.filter(\.poisoned).count,
                metrics: metrics, tool: "adapterctl \(AdapterdVersion.string)")
            let model = try DetectorTrainer.train(examples, options: options, provenance: provenance)
            try model.encoded().write(to: URL(fileURLWithPath: out), options: .atomic)
            Output.printText("trained \(fs.rawValue) detector on \(examples.count) adapters (\(model.provenance.poisonedCount) poisoned); threshold \(DetectorEvaluation.f(model.threshold, 4))")
            for m in metrics {
                Output.printText("  \(m.scheme): accuracy \(DetectorEvaluation.f(m.accuracy)), AUC \(DetectorEvaluation.f(m.auc)), FPR \(DetectorEvaluation.f(m.falsePositiveRate)), TPR \(DetectorEvaluation.f(m.truePositiveRate))")
            }
            Output.printText("wrote \(out)")
        }
    }
}

/// `adapterctl detector eval`.
public struct DetectorEvalCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Cross-validate the baseline and the chosen feature set side by side on a corpus.",
        discussion: """
            Prints accuracy, AUC, false-positive and true-positive rates and confusion matrices of \
            stratified 5-fold and leave-one-task-out cross-validation, for the baseline 20-value signature \
            and for the chosen feature set. Every fold fits bank, standardisation, coefficients and the \
            threshold on its training part only. With --model, also applies that model to every adapter of \
            the manifest (in-sample if the model was trained on it).
            """)

    @OptionGroup public var corpus: DetectorCorpusOptions

    @Option(name: .long, help: "Also apply this model file (or 'default') to the corpus.")
    public var model: String?

    @Flag(name: .long, help: "Also print the leave-one-task-out decision of every adapter.")
    public var verbose = false

    @Option(name: .long, help: "Write every adapter's features (all evaluated sets) as JSON lines to this file.")
    public var dumpFeatures: String?

    public init() {}

    public func run() throws {
        let fs = try corpus.featureSet()
        let sets: [DetectorFeatureSet] = fs == .baseline ? [.baseline] : [.baseline, fs]
        try CLIFailure.reportingDetectorErrors {
            let (manifest, features, tables) = try DetectorCorpus.load(corpus, featureSets: sets)
            var reports: [(DetectorFeatureSet, [CrossValidationReport])] = []
            for s in sets {
                let examples = features[s] ?? []
                let options = try corpus.options(s)
                var rs: [CrossValidationReport] = []
                for (scheme, folds) in DetectorEvaluation.schemes(examples) {
                    rs.append(try DetectorTrainer.crossValidate(examples, folds: folds, scheme: scheme, options: options))
                }
                reports.append((s, rs))
            }
            let examples = features[sets[0]] ?? []
            if let dumpFeatures {
                try DetectorEvaluation.dump(features, sets: sets).write(to: URL(fileURLWithPath: dumpFeatures), options: .atomic)
            }
            Output.printText(DetectorEvaluation.header(manifest: manifest, examples: examples, policy: .fixedFalsePositiveRate(corpus.targetFpr), l2: corpus.l2))
            Output.printText(DetectorEvaluation.sideBySide(reports, profiles: examples.map(\.features.profile.key)))
            if verbose { Output.printText(DetectorEvaluation.perAdapter(reports)) }
            if let model {
                let m = try model == "default" ? DefaultDetectorModels.model(forBaseModel: !tables.isEmpty) : DetectorModel.load(from: URL(fileURLWithPath: model))
                guard let mfs = DetectorFeatureSet(rawValue: m.featureSet) else { throw CLIFailure("unknown feature set") }
                let extracted = try features[mfs] ?? (CorpusFeaturizer.features(of: manifest, featureSets: [mfs], tokenTables: tables, jobs: corpus.jobs)[mfs] ?? [])
                let detector = try Detector(model: m, tokenTables: tables)
                let verdicts = extracted.map { detector.verdict(for: $0.features) }
                let flagged = verdicts.map(\.isFlagged)
                let c = ConfusionMatrix(predicted: flagged, actual: extracted.map(\.poisoned))
                let auc = ClassificationMetrics.auc(scores: verdicts.map { $0.score.isFinite ? $0.score : 2 }, labels: extracted.map(\.poisoned))
                Output.printText("\nmodel \(model) (\(m.featureSet), trained \(m.provenance.trainedAt) on \(m.provenance.trainingCount) adapters) applied to this corpus:")
                Output.printText("  accuracy \(DetectorEvaluation.f(c.accuracy))  AUC \(DetectorEvaluation.f(auc))  FPR \(DetectorEvaluation.f(c.falsePositiveRate))  TPR \(DetectorEvaluation.f(c.truePositiveRate))  out-of-distribution \(verdicts.filter { $0.decision == .outOfDistribution }.count)")
                Output.printText("  confusion: TP \(c.truePositives)  FP \(c.falsePositives)  TN \(c.trueNegatives)  FN \(c.falseNegatives)")
            }
        }
    }
}

/// A failure reported to the user as one line, exit status 2.
struct CLIFailure: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }

    /// Runs `body`; a detector or token-embedding error it throws is reported as its message.
    static func reportingDetectorErrors(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let e as DetectorError {
            throw CLIFailure(e.message)
        } catch let e as TokenEmbeddingError {
            throw CLIFailure(e.message)
        }
    }
}
