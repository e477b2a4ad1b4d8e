/// Scores how well a candidate adapter serves a task (higher is better). The task's own adapter is
/// the reference, so the retained quality of a merged adapter is score(merged) / score(own); scores
/// must therefore be positive for the task's own adapter (accuracy, exp(−loss), …).
///
/// Implementations must be safe to call concurrently. Errors are thrown, never swallowed: the caller
/// decides whether a failed evaluation aborts a re-clustering or falls back to another evaluator.
public protocol Evaluator: Sendable {
    /// A short name shown in plans and status (e.g. "weight-space", "external:eval.py").
    var name: String { get }

    func score(task: TaskProfile, candidate: LoRAAdapter) async throws -> Double

    /// The highest score any candidate can get, when there is one (weight-space: 1, the task's own
    /// update); nil when unknown. The refiner stops when every task already has it: no move can help.
    var maximumScore: Double? { get }

    /// How far one example can move `task`'s score: 1 / the examples scored, for an evaluator whose
    /// score is a mean over the task's examples of a value in [0, 1] (accuracy, the right label's
    /// probability); 0 for a score that is not a sample. A plan that merges is preferred to
    /// truncate-only only when it scores higher by more than this (`JointBudgetPlanner`): ten examples
    /// cannot tell a smaller difference from which ten were drawn.
    func exampleWeight(for task: TaskProfile) -> Double
}

extension Evaluator {
    public var maximumScore: Double? { nil }
    public func exampleWeight(for task: TaskProfile) -> Double { 0 }

    /// `score`, with every failure reported the same way: a `ClusteringError` or cancellation as it
    /// is, any other error and a non-finite score as `evaluatorFailed` naming the evaluator and task.
    func checkedScore(task: TaskProfile, candidate: LoRAAdapter) async throws -> Double {
        let value: Double
        do {
            value = try await score(task: task, candidate: candidate)
        } catch let error as ClusteringError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ClusteringError(.evaluatorFailed, "evaluator \(name) failed on task '\(task.name)': \(error)")
        }
        guard value.isFinite else {
            throw ClusteringError(.evaluatorFailed, "evaluator \(name) returned \(value) for task '\(task.name)'")
        }
        return value
    }
}
