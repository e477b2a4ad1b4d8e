import AdapterCore
import AdapterStore
import Foundation
import Logging

/// The evaluator re-clustering uses, as the settings and the base model make it, with the reason
/// status shows. The data-aware one needs the tasks' input sketches, so it is resolved per plan.
enum EvaluatorChoice: Sendable {
    case fixed(ServedSetPlanner.Evaluators, reason: String)
    case dataAware(LoadedBaseModel, reason: String)
    case labelProbability(LoadedBaseModel, reason: String)

    /// The evaluator's name (`data-aware`, `label-probability`, `weight-space`, or the command's cached name).
    var name: String {
        switch self {
        case .fixed(let evaluators, _): evaluators.primary.name
        case .dataAware: "data-aware"
        case .labelProbability: "label-probability"
        }
    }

    var reason: String {
        switch self {
        case .fixed(_, let reason), .dataAware(_, let reason), .labelProbability(_, let reason): reason
        }
    }

    /// The base model a data-aware choice records input sketches with at install.
    var sketchingModel: LoadedBaseModel? {
        if case .dataAware(let model, _) = self { model } else { nil }
    }

    /// The evaluators of one plan over `inputs`: data-aware scores from each task's input sketch
    /// (made on first use, by `book`), falling back to weight-space when a task has none.
    func evaluators(for inputs: [ServedSetPlanner.Input], book: InputSketchBook) -> ServedSetPlanner.Evaluators {
        switch self {
        case .fixed(let evaluators, _):
            return evaluators
        case .dataAware(let model, _):
            let byName = Dictionary(inputs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            let evaluator = DataAwareEvaluator { task in
                guard let input = byName[task.name] else {
                    throw ClusteringError(.evaluatorFailed, "task '\(task.name)' is not in this plan")
                }
                return try book.sketch(of: input, adapter: task.adapter, model: model)
            }
            return .init(primary: evaluator, fallback: WeightSpaceEvaluator())
        case .labelProbability(let model, _):
            let files = Dictionary(inputs.map { ($0.name, $0.examplesFile) }, uniquingKeysWith: { a, _ in a })
            let evaluator = LabelProbabilityEvaluator(sketcher: model.sketcher) { task in
                guard let file = files[task.name] ?? nil else {
                    throw ClusteringError(.evaluatorFailed, "the examples of task '\(task.name)' are not available")
                }
                return try ExamplesFile.load(contentsOf: URL(fileURLWithPath: file),
                                             limits: TaskEmbeddingIndex.storedExamplesLimits, maximumBytes: .max)
            }
            return .init(primary: evaluator, fallback: WeightSpaceEvaluator())
        }
    }
}

/// Makes the `EvaluatorChoice` of the settings.
enum EvaluatorFactory {
    /// `auto`: data-aware with a loaded base model, else weight-space; `data-aware` without a usable
    /// base model: weight-space, saying why; the command (cached by the merged adapter's sha256 and
    /// the task's version) falling back to weight-space when it fails.
    static func make(_ settings: DaemonSettings, baseModel: BaseModelState, logger: Logger) -> EvaluatorChoice {
        switch settings.evaluator {
        case .weightSpace:
            return .fixed(.init(primary: WeightSpaceEvaluator(), fallback: nil), reason: "evaluator = weight-space")
        case .auto, .dataAware, .labelProbability:
            let key = "evaluator = \(settings.evaluator.rawValue)"
            switch baseModel {
            case .loaded(let model) where settings.evaluator == .labelProbability:
                return .labelProbability(model, reason: "\(key); base model \(model.directory) (\(model.summary))")
            case .loaded(let model):
                return .dataAware(model, reason: "\(key); base model \(model.directory) (\(model.summary))")
            case .notConfigured:
                return .fixed(.init(primary: WeightSpaceEvaluator(), fallback: nil),
                              reason: "\(key); no base-model is set, so merges are scored in weight space")
            case .unusable(let directory, let reason):
                logger.error("base-model \(directory) cannot be loaded (\(reason)); re-clustering uses weight-space scores")
                return .fixed(.init(primary: WeightSpaceEvaluator(), fallback: nil),
                              reason: "\(key); base-model \(directory) cannot be loaded: \(reason)")
            }
        case .command:
            do {
                let external = try ExternalCommandEvaluator(
                    arguments: settings.evaluatorCommand, timeout: settings.evaluatorTimeoutSeconds)
                let cached = CachingEvaluator(external) { adapter in
                    // The sha256 of the F16 weights file the adapter is written as.
                    (try? PEFTAdapterWriter.serialize(adapter, dtype: .f16)).map { ContentDigest.of($0.weights).hex }
                        ?? AdapterFingerprint.of(adapter)
                }
                return .fixed(.init(primary: cached, fallback: WeightSpaceEvaluator()), reason: "evaluator = command")
            } catch {
                logger.error("evaluator-command cannot be used (\(error)); re-clustering uses weight-space scores")
                return .fixed(.init(primary: WeightSpaceEvaluator(), fallback: nil),
                              reason: "evaluator = command, which cannot be used: \(error)")
            }
        }
    }
}
