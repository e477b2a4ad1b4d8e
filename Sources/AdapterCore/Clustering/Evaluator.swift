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
}

extension Evaluator {
    public var maximumScore: Double? { nil }

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
