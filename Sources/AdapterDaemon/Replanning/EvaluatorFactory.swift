import AdapterCore
import AdapterStore
import Foundation
import Logging

/// Makes the `EvaluatorChoice` of the settings.
enum EvaluatorFactory {
    /// `auto`: with a loaded base model, label-probability where every task's examples are labelled and
    /// the model is small enough to run per candidate (`LabelProbabilityEvaluator.isRoutine`), else
    /// data-aware; without one, weight-space. `data-aware` without a usable base model: weight-space,
    /// saying why; the command (cached by the merged adapter's sha256 and
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
            case .loaded(let model) where settings.evaluator == .auto && LabelProbabilityEvaluator.isRoutine(on: model.sketcher.model):
                return .labelProbabilityWhereLabelled(
                    model, reason: "\(key); base model \(model.directory) (\(model.summary)): label-probability, or "
                        + "data-aware for a plan with a task whose examples have fewer than two labels")
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
