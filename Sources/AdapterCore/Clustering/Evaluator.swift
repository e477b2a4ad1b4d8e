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
        } catch {
            throw reported(error, task: task)
        }
        return try finite(value, task: task)
    }

    /// `checkedScore` of every request, in order. A `ComputedEvaluator`'s scores run on up to
    /// `ComputeThreads` threads (`ParallelLoop`: niced like the plan that asks, stopped by its
    /// cancellation), one after another when each score splits its own work over them; any other
    /// evaluator's (which waits, e.g. for a command) as up to `concurrency` concurrent tasks. Which score fails first does not depend on how many ran: the lowest failing
    /// request's error is thrown.
    func checkedScores(_ requests: [(task: TaskProfile, candidate: LoRAAdapter)], concurrency: Int) async throws -> [Double] {
        if let computed = self as? any ComputedEvaluator {
            let threads = computed.splitsItsWork ? 1 : ComputeThreads.count
            return try ParallelLoop.map(requests.count, threads: threads, minimumPerThread: 1) { i in
                let (task, candidate) = requests[i]
                let value: Double
                do {
                    value = try computed.scoreNow(task: task, candidate: candidate)
                } catch {
                    throw reported(error, task: task)
                }
                return try finite(value, task: task)
            }
        }
        var results = [Double](repeating: 0, count: requests.count)
        var failure: (index: Int, error: any Error)?
        let width = max(1, concurrency)
        await withTaskGroup(of: (Int, Result<Double, any Error>).self) { group in
            // Requests start in order, so once one fails every one before it has started: those still
            // running are waited for, and none after it is started.
            for (index, request) in requests.enumerated() {
                if index >= width, let (done, outcome) = await group.next() {
                    Self.record(outcome, at: done, in: &results, failure: &failure)
                    if failure != nil { break }
                }
                group.addTask {
                    do {
                        return (index, .success(try await checkedScore(task: request.task, candidate: request.candidate)))
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            while let (done, outcome) = await group.next() {
                Self.record(outcome, at: done, in: &results, failure: &failure)
            }
        }
        if let failure { throw failure.error }
        return results
    }

    /// One finished request of `checkedScores`: its score kept, or its failure when it is the lowest so far.
    private static func record(_ outcome: Result<Double, any Error>, at index: Int, in results: inout [Double],
                               failure: inout (index: Int, error: any Error)?) {
        switch outcome {
        case .success(let value): results[index] = value
        case .failure(let error): if failure.map({ index < $0.index }) ?? true { failure = (index, error) }
        }
    }

    /// A failure of `score` as callers see it: a `ClusteringError` or cancellation as it is, any
    /// other error as `evaluatorFailed` naming the evaluator and task.
    private func reported(_ error: any Error, task: TaskProfile) -> any Error {
        switch error {
        case let error as ClusteringError: error
        case is CancellationError: CancellationError()
        default: ClusteringError(.evaluatorFailed, "evaluator \(name) failed on task '\(task.name)': \(error)")
        }
    }

    private func finite(_ value: Double, task: TaskProfile) throws -> Double {
        guard value.isFinite else {
            throw ClusteringError(.evaluatorFailed, "evaluator \(name) returned \(value) for task '\(task.name)'")
        }
        return value
    }
}

/// An evaluator that computes its score on the calling thread, without waiting for anything (the
/// built-in ones: weight space, the data-aware score, the runtime's forward passes), so that a batch
/// of its scores can share the compute threads (`Evaluator.checkedScores`).
public protocol ComputedEvaluator: Evaluator {
    func scoreNow(task: TaskProfile, candidate: LoRAAdapter) throws -> Double

    /// Whether one score already splits its work over the compute threads (weight space: the modules'
    /// products), so that a batch is better scored one request at a time; false by default.
    var splitsItsWork: Bool { get }
}

extension ComputedEvaluator {
    public var splitsItsWork: Bool { false }

    public func score(task: TaskProfile, candidate: LoRAAdapter) async throws -> Double {
        try scoreNow(task: task, candidate: candidate)
    }
}
