import AdapterCore
import AdapterProtocol
import Foundation

/// Screening with adapterd's detector (AdapterCore `Detector`), optionally with the configured
/// threshold instead of the model's.
///
/// With a base model (`detector-base-model`) the detector may read its token embeddings (feature set
/// `alignment` and the other token sets). An adapter of another base model — one whose architecture or
/// hidden size differs from the table's — cannot be scored with those features; it is screened with the
/// built-in weights-only model instead, and its verdict's model says so and why (it is not refused for
/// the mismatch alone, as it would not have been without a base model configured).
public struct DetectorScreening: Screening {
    public let detector: Detector
    public let thresholdOverride: Double?
    /// Where the model came from: a file path or "built-in".
    public let source: String
    /// The base model whose token embeddings `detector` reads; nil when its feature set reads none.
    public let baseModel: DetectorBaseModel?
    /// The weights-only detector for adapters that do not match `baseModel`.
    public let fallback: Detector?
    /// Remarks about the configuration for the log (e.g. a base model the chosen model does not use).
    public let notes: [String]
    /// Screening by behaviour on the daemon's base model (`base-model`); without a probe, weights only.
    public var behaviour = BehaviouralScreening(probes: [], unconfigured: DetectorScreening.unconfigured)
    static let unconfigured = "no base-model is configured (weights only)"

    public init(detector: Detector, thresholdOverride: Double? = nil, source: String = "built-in",
                baseModel: DetectorBaseModel? = nil, fallback: Detector? = nil, notes: [String] = []) {
        self.detector = detector
        self.thresholdOverride = thresholdOverride
        self.source = source
        self.baseModel = baseModel
        self.fallback = fallback
        self.notes = notes
    }

    /// Screening with the model file at `modelPath`, or with the model built into adapterd: the
    /// token-alignment model when `baseModelPath` is given, else the weights-only one. A base model
    /// already loaded from the same path (`reusing`, the previous screening's on reload) is not read again.
    ///
    /// Throws a `ConfigurationError` when the model file needs a base model and none is configured, a
    /// `DaemonError` when the base model cannot be read, and the model's own error when it is invalid.
    public static func make(modelPath: String?, baseModelPath: String? = nil, thresholdOverride: Double?,
                            reusing previous: DetectorBaseModel? = nil) throws -> DetectorScreening {
        var baseModel: DetectorBaseModel? = nil
        if let baseModelPath {
            if let previous, previous.isSame(path: baseModelPath) {
                baseModel = previous
            } else {
                baseModel = try DetectorBaseModel.load(path: baseModelPath)
            }
        }
        let model: DetectorModel
        if let modelPath {
            model = try DetectorModel.load(from: URL(fileURLWithPath: modelPath))
            if DetectorFeatureSet(rawValue: model.featureSet)?.needsBaseModel == true, baseModel == nil {
                throw ConfigurationError(.invalidValue, """
                    detector model \(modelPath) uses feature set '\(model.featureSet)', which reads the base model's \
                    token embeddings; set detector-base-model = DIR in the configuration or pass \
                    --detector-base-model DIR (the base model directory, as for adapterctl scan --base-model)
                    """)
            }
        } else {
            do {
                model = try DefaultDetectorModels.model(forBaseModel: baseModel != nil)
            } catch {
                throw DaemonError("no detector model: this adapterd has none built in; set detector-model = FILE in the configuration or pass --detector-model FILE (\(error))")
            }
        }
        let source = modelPath ?? "built-in"
        let needsBaseModel = DetectorFeatureSet(rawValue: model.featureSet)?.needsBaseModel == true
        guard needsBaseModel, let baseModel else {
            var notes: [String] = []
            if let baseModel {
                notes.append("detector-base-model \(baseModel.path) is not used: the detector model (\(source), feature set "
                    + "'\(model.featureSet)') reads no token embeddings")
            }
            return DetectorScreening(detector: try Detector(model: model), thresholdOverride: thresholdOverride,
                                     source: source, notes: notes)
        }
        let fallback = try? Detector(model: DefaultDetectorModels.weightsOnly())
        return DetectorScreening(detector: try Detector(model: model, tokenTables: [baseModel.table]),
                                 thresholdOverride: thresholdOverride, source: source, baseModel: baseModel,
                                 fallback: fallback)
    }

    /// Screening as `settings` configure it (detector-model, detector-base-model, detector-threshold),
    /// weights only.
    public static func make(_ settings: DaemonSettings, reusing previous: DetectorBaseModel? = nil) throws -> DetectorScreening {
        try make(modelPath: settings.detectorModel, baseModelPath: settings.detectorBaseModel,
                 thresholdOverride: settings.detectorThreshold, reusing: previous)
    }

    /// Screening as `settings` configure it, on the daemon's loaded base model: its behavioural probe
    /// screens every install that brings labelled examples, and its token table is the detector's
    /// base model unless `detector-base-model` names another directory (`base-model` is the one
    /// setting; `detector-base-model` stays as an alias that wins when both are set).
    static func make(_ settings: DaemonSettings, reusing previous: DetectorBaseModel? = nil,
                     baseModel: BaseModelState) throws -> DetectorScreening {
        let runtime = baseModel.model
        let path = settings.detectorBaseModel ?? runtime?.directory
        var reuse = previous
        if let runtime, let path, runtime.detectorBaseModel.isSame(path: path) { reuse = runtime.detectorBaseModel }
        var screening = try make(modelPath: settings.detectorModel, baseModelPath: path,
                                 thresholdOverride: settings.detectorThreshold, reusing: reuse)
        if let runtime { screening.behaviour = BehaviouralScreening(probes: [runtime.probe], unconfigured: unconfigured) }
        return screening
    }

    /// The detector in status and verdicts: feature set, where the model came from, how many adapters
    /// it was trained on and, when it reads token embeddings, the base model they come from.
    public var modelName: String {
        let name = Self.name(of: detector, source: source)
        guard let baseModel else { return name }
        return "\(name), base model \(baseModel.summary)"
    }

    /// Whether installs are also screened by behaviour, and on what.
    public var behaviourSummary: String? {
        guard !behaviour.probes.isEmpty else { return "weights only: no behavioural screening (set base-model = DIR)" }
        return "candidate triggers run through the base model with the install's examples "
            + "(refused at behavioural score ≥ \(String(format: "%.3f", behaviour.threshold)))"
    }

    private static func name(of detector: Detector, source: String) -> String {
        "\(detector.model.featureSet) logistic regression (\(source), \(detector.model.provenance.trainingCount) training adapters)"
    }

    public var threshold: Double { thresholdOverride ?? detector.model.threshold }

    public func screen(_ adapter: LoRAAdapter) throws -> Verdict {
        if let baseModel, let fallback, adapter.architecture != .unknown {
            let profile = AdapterProfile(adapter: adapter)
            if detector.extractor.table(for: profile) == nil {
                let reason = "the adapter (\(profile.key)) does not match the configured base model "
                    + "\(baseModel.summary); screened with the weights-only model"
                let model = Self.name(of: fallback, source: "built-in") + "; weights-only fallback: " + reason
                return judged(fallback.verdict(for: adapter), model: model, extraReasons: [reason])
            }
        }
        return judged(detector.verdict(for: adapter), model: modelName, extraReasons: [])
    }

    /// The weight verdict joined with what the behavioural probe sees `examples` do (`BehaviouralScreening`);
    /// without a probe, or for an adapter of another base model, the weight verdict says why behaviour
    /// was not screened.
    public func screen(_ adapter: LoRAAdapter, examples: [TaskExample], task: String) throws -> Verdict {
        behaviour.judged(try screen(adapter), adapter: adapter, examples: examples, taskName: task)
    }

    /// The detector's verdict against the configured threshold, naming the model that judged.
    private func judged(_ verdict: Verdict, model: String, extraReasons: [String]) -> Verdict {
        var judged = thresholdOverride.map { verdict.judged(against: $0) } ?? verdict
        judged.model = model
        judged.reasons = extraReasons + verdict.reasons
        return judged
    }
}
