import AdapterCore
import AdapterStore
import Logging

/// The evaluators re-clustering scores merges with, as the settings configure them.
enum EvaluatorFactory {
    /// Weight-space, or the command (cached by the merged adapter's sha256 and the task's version)
    /// falling back to weight-space when it fails.
    static func make(_ settings: DaemonSettings, logger: Logger) -> ServedSetPlanner.Evaluators {
        switch settings.evaluator {
        case .weightSpace:
            return .init(primary: WeightSpaceEvaluator(), fallback: nil)
        case .command:
            do {
                let external = try ExternalCommandEvaluator(
                    arguments: settings.evaluatorCommand, timeout: settings.evaluatorTimeoutSeconds)
                let cached = CachingEvaluator(external) { adapter in
                    // The sha256 of the F16 weights file the adapter is written as.
                    (try? PEFTAdapterWriter.serialize(adapter, dtype: .f16)).map { ContentDigest.of($0.weights).hex }
                        ?? AdapterFingerprint.of(adapter)
                }
                return .init(primary: cached, fallback: WeightSpaceEvaluator())
            } catch {
                logger.error("evaluator-command cannot be used (\(error)); re-clustering uses weight-space scores")
                return .init(primary: WeightSpaceEvaluator(), fallback: nil)
            }
        }
    }
}
