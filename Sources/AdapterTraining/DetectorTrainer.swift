import AdapterCore
import Foundation

/// One training adapter: its features, its label, and the group (task) it belongs to.
public struct LabelledFeatures: Sendable, Equatable {
    public var id: String
    public var features: DetectorFeatures
    public var poisoned: Bool
    /// The task, for leave-one-task-out splits.
    public var group: String
    /// The base model named by the adapter or manifest (provenance only).
    public var baseModel: String
    /// The trigger kind of a poisoned adapter, for leave-one-trigger-kind-out splits (nil: benign or unknown).
    public var triggerKind: String?

    public init(id: String, features: DetectorFeatures, poisoned: Bool, group: String, baseModel: String,
                triggerKind: String? = nil) {
        self.id = id
        self.features = features
        self.poisoned = poisoned
        self.group = group
        self.baseModel = baseModel
        self.triggerKind = poisoned ? triggerKind : nil
    }
}

/// Settings of `DetectorTrainer`.
public struct DetectorTrainingOptions: Sendable, Equatable {
    public var featureSet: DetectorFeatureSet
    /// λ of the L2 penalty on standardised features.
    public var l2: Double
    public var thresholdPolicy: ThresholdPolicy
    /// Whether features are z-scored against a benign bank before standardisation.
    public var useBenignBank: Bool
    /// Bound on |standardised feature| beyond which an adapter is out of distribution.
    public var maxAbsZ: Double
    /// Folds of the inner cross-validation that gives calibration scores for the threshold when the
    /// training set has fewer than three groups (otherwise the inner split leaves one group out).
    public var innerFolds: Int
    public var seed: UInt64

    public init(featureSet: DetectorFeatureSet, l2: Double = 1.0,
                thresholdPolicy: ThresholdPolicy = .fixedFalsePositiveRate(0.05),
                useBenignBank: Bool? = nil, maxAbsZ: Double = 12, innerFolds: Int = 5, seed: UInt64 = 0x5EED) {
        self.featureSet = featureSet
        self.l2 = l2
        self.thresholdPolicy = thresholdPolicy
        self.useBenignBank = useBenignBank ?? featureSet.usesBenignBank
        self.maxAbsZ = maxAbsZ
        self.innerFolds = innerFolds
        self.seed = seed
    }
}

/// Out-of-fold results of a cross-validation, in the order of the examples.
public struct CrossValidationReport: Sendable {
    public var scheme: String
    public var ids: [String]
    public var labels: [Bool]
    public var groups: [String]
    /// Out-of-fold probability of "poisoned" (NaN when the adapter could not be scored).
    public var scores: [Double]
    public var decisions: [Verdict.Decision]
    /// The threshold each example was judged with (chosen on its training fold).
    public var thresholds: [Double]
    public var foldNames: [String]

    /// Flagged = poisoned or out of distribution.
    public var flagged: [Bool] { decisions.map { $0 != .benign } }
    public var confusion: ConfusionMatrix { ConfusionMatrix(predicted: flagged, actual: labels) }
    public var accuracy: Double { confusion.accuracy }
    /// AUC of the out-of-fold scores; adapters without a score rank as most suspicious.
    public var auc: Double {
        ClassificationMetrics.auc(scores: scores.map { $0.isFinite ? $0 : 2 }, labels: labels)
    }
    public var outOfDistributionCount: Int { decisions.filter { $0 == .outOfDistribution }.count }

    public var metrics: DetectorMetrics {
        let c = confusion
        return DetectorMetrics(scheme: scheme, accuracy: c.accuracy, auc: auc, falsePositiveRate: c.falsePositiveRate,
                               truePositiveRate: c.truePositiveRate, confusion: c)
    }

    /// Accuracy and count per held-out group (task), in order of appearance.
    public var perGroup: [(group: String, count: Int, accuracy: Double, poisoned: Int)] {
        var order: [String] = []
        for g in groups where !order.contains(g) { order.append(g) }
        return order.map { g in
            let idx = groups.indices.filter { groups[$0] == g }
            let correct = idx.filter { flagged[$0] == labels[$0] }.count
            return (g, idx.count, Double(correct) / Double(idx.count), idx.filter { labels[$0] }.count)
        }
    }
}

/// Trains `DetectorModel`s from labelled feature vectors and measures them by cross-validation. Every
/// step that learns from data — benign bank, standardisation, coefficients, threshold — is fitted on
/// the training part only, so cross-validated numbers never see the held-out adapters.
public enum DetectorTrainer {
    /// Fits bank, standardiser and coefficients; the threshold is left at 0.5.
    static func fitCore(_ examples: [LabelledFeatures], options: DetectorTrainingOptions) throws -> DetectorModel {
        guard let first = examples.first else {
            throw DetectorError(.invalidTrainingData, "no training adapters")
        }
        let names = first.features.names
        for e in examples where e.features.names != names {
            throw DetectorError(.invalidTrainingData, "adapter \(e.id) has a different feature set than \(first.id)")
        }
        for e in examples where !e.features.values.allSatisfy(\.isFinite) {
            throw DetectorError(.invalidTrainingData, "adapter \(e.id) has non-finite features")
        }
        guard examples.contains(where: \.poisoned), examples.contains(where: { !$0.poisoned }) else {
            throw DetectorError(.invalidTrainingData, "training needs both benign and poisoned adapters")
        }
        var rows = examples.map(\.features.values)
        var bank: BenignBank?
        if options.useBenignBank {
            let benign = examples.filter { !$0.poisoned }
            let b = BenignBank(rows: benign.map(\.features.values), profiles: benign.map(\.features.profile.key),
                               ranks: benign.map(\.features.rank))
            for e in examples where b.group(profile: e.features.profile.key, rank: e.features.rank) == nil {
                throw DetectorError(.invalidTrainingData,
                    "profile \(e.features.profile.key) of adapter \(e.id) has fewer than 2 benign adapters for the benign bank")
            }
            rows = examples.map { b.normalise($0.features.values, profile: $0.features.profile.key, rank: $0.features.rank) ?? [] }
            bank = b
        }
        let standardizer = FeatureStandardizer(fitting: rows)
        let z = rows.map { standardizer.transform($0) }
        let fit: LogisticFit
        do {
            fit = try LogisticRegression(l2: options.l2).fit(x: z, y: examples.map(\.poisoned))
        } catch let e as LogisticRegressionError {
            throw DetectorError(.invalidTrainingData, "logistic regression: \(e.message)")
        }
        let profiles = Array(Set(examples.map(\.features.profile.key))).sorted()
        let provenance = DetectorProvenance(corpus: "", baseModels: [], trainedAt: "", trainingCount: examples.count,
                                            poisonedCount: examples.filter(\.poisoned).count, metrics: [], tool: "")
        return DetectorModel(featureSet: options.featureSet.rawValue, featureNames: names, bank: bank,
                             means: standardizer.means, stds: standardizer.stds, coefficients: fit.coefficients,
                             intercept: fit.intercept, l2: options.l2, threshold: 0.5,
                             thresholdPolicy: options.thresholdPolicy, maxAbsZ: options.maxAbsZ,
                             profiles: profiles, provenance: provenance)
    }

    /// Inner splits for threshold calibration: leave one group out when there are at least three
    /// groups, else stratified k-fold.
    static func innerFolds(_ examples: [LabelledFeatures], options: DetectorTrainingOptions) -> [CrossValidationFold] {
        let groups = examples.map(\.group)
        if Set(groups).count >= 3 { return CrossValidation.leaveOneGroupOut(groups: groups) }
        return CrossValidation.stratifiedKFold(labels: examples.map(\.poisoned), k: options.innerFolds, seed: options.seed)
    }

    /// Out-of-fold scores of the training adapters from the inner split (NaN when a fold cannot be fitted
    /// or an adapter cannot be scored).
    static func calibrationScores(_ examples: [LabelledFeatures], options: DetectorTrainingOptions) -> [Double] {
        var scores = [Double](repeating: .nan, count: examples.count)
        for fold in innerFolds(examples, options: options) {
            guard let model = try? fitCore(fold.train.map { examples[$0] }, options: options) else { continue }
            for i in fold.test {
                scores[i] = (try? model.scoring(examples[i].features).score) ?? .nan
            }
        }
        return scores
    }

    /// Trains a complete model: core fit on all examples, threshold from the policy applied to the
    /// inner cross-validation's out-of-fold scores.
    public static func train(_ examples: [LabelledFeatures], options: DetectorTrainingOptions,
                             provenance: DetectorProvenance? = nil) throws -> DetectorModel {
        var model = try fitCore(examples, options: options)
        let calibration = calibrationScores(examples, options: options)
        let usable = calibration.indices.filter { calibration[$0].isFinite }
        var threshold = options.thresholdPolicy.threshold(scores: usable.map { calibration[$0] },
                                                          labels: usable.map { examples[$0].poisoned })
        threshold = min(max(threshold, 1e-12), 1 - 1e-12)
        model.threshold = threshold
        if let provenance { model.provenance = provenance }
        model.provenance.trainingCount = examples.count
        model.provenance.poisonedCount = examples.filter(\.poisoned).count
        try model.validate()
        return model
    }

    /// Cross-validates full training (including threshold choice) over the given folds.
    public static func crossValidate(_ examples: [LabelledFeatures], folds: [CrossValidationFold], scheme: String,
                                     options: DetectorTrainingOptions) throws -> CrossValidationReport {
        guard !folds.isEmpty else {
            throw DetectorError(.invalidTrainingData, "cross-validation needs at least two folds (\(scheme))")
        }
        var report = CrossValidationReport(
            scheme: scheme, ids: examples.map(\.id), labels: examples.map(\.poisoned), groups: examples.map(\.group),
            scores: [Double](repeating: .nan, count: examples.count),
            decisions: [Verdict.Decision](repeating: .outOfDistribution, count: examples.count),
            thresholds: [Double](repeating: .nan, count: examples.count),
            foldNames: [String](repeating: "", count: examples.count))
        for fold in folds {
            let model = try train(fold.train.map { examples[$0] }, options: options)
            let detector = try Detector(model: model)
            for i in fold.test {
                let v = detector.verdict(for: examples[i].features)
                report.scores[i] = v.score
                report.decisions[i] = v.decision
                report.thresholds[i] = v.threshold
                report.foldNames[i] = fold.name
            }
        }
        return report
    }
}
