/// The built-in evaluator that uses a task's examples without running the model per candidate: the
/// `DataAwareScore` of the candidate against the task's own adapter on the task's `TaskInputSketch`
/// (made once per task by `TaskInputSketcher`, e.g. at install). Scores lie in [0, 1] and the task's
/// own adapter scores 1, so retained quality equals the score, as with `WeightSpaceEvaluator`.
///
/// The task's side of the computation (`DataAwareScore.Reference`) is prepared on first use and kept
/// per (task name, version) for the evaluator's lifetime, so each further candidate costs two small
/// products per linear map. Safe to call concurrently. A task without a sketch, or a candidate
/// adapting a map its sketch did not record, is an error (`evaluatorFailed`), never a guess: the
/// caller decides whether to fall back to the weight-space evaluator.
public struct DataAwareEvaluator: ComputedEvaluator {
    public var name: String { "data-aware" }
    public var maximumScore: Double? { 1 }

    private let sketchOf: @Sendable (TaskProfile) throws -> TaskInputSketch
    private let references = TaskReferenceCache<DataAwareScore.Reference>()

    /// Sketches given by a function of the task (e.g. a catalog lookup by name and version).
    public init(sketch: @escaping @Sendable (TaskProfile) throws -> TaskInputSketch) {
        sketchOf = sketch
    }

    /// Sketches by task name.
    public init(sketches: [String: TaskInputSketch]) {
        self.init { task in
            guard let sketch = sketches[task.name] else {
                throw ClusteringError(.evaluatorFailed, "task '\(task.name)' has no input sketch for the data-aware evaluator")
            }
            return sketch
        }
    }

    /// The score, also for callers outside an async context (e.g. a merger choosing between merges).
    /// Every failure is an `evaluatorFailed` error naming the task, so a planner can fall
    /// back to another evaluator for the plan.
    public func scoreNow(task: TaskProfile, candidate: LoRAAdapter) throws -> Double {
        let reference: DataAwareScore.Reference
        do {
            reference = try self.reference(for: task)
        } catch {
            throw ClusteringError.evaluatorFailure(error, "data-aware score of task '\(task.name)'")
        }
        do {
            return try reference.breakdown(candidate).score
        } catch {
            // The candidate does not fit the task's sketch (e.g. it adapts a map the sketch did not record).
            let reason = (error as? ClusteringError)?.message ?? "\(error)"
            throw ClusteringError(.evaluatorFailed, "data-aware score of task '\(task.name)': \(reason)")
        }
    }

    /// The task's prepared side of the score (cached by name and version).
    public func reference(for task: TaskProfile) throws -> DataAwareScore.Reference {
        try references.value(for: task) { try DataAwareScore.Reference(own: task.adapter, sketch: sketchOf(task)) }
    }
}
