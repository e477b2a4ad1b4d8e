/// A clustering, planning or evaluation request that cannot be carried out, with a message for the user.
public typealias ClusteringError = CodedError<ClusteringErrorCode>

/// What kind of failure this is; new codes may be added.
public enum ClusteringErrorCode: String, ErrorCode {
    /// Adapters of different base-model profiles (base model or module shapes) were mixed.
    case profileMismatch
    /// An argument is out of range (k < 1, empty task list, rank < 1, …).
    case invalidArgument
    /// Not even one merged adapter at the minimum rank fits the byte budget.
    case budgetTooSmall
    /// An evaluator failed; the message names the task and the evaluator's reason.
    case evaluatorFailed
    /// A merge of a cluster failed.
    case mergeFailed
}

extension ClusteringError {
    /// Runs `body` (a merge, or the scores that stand for one): a cancellation passes through, any
    /// other failure becomes `.mergeFailed` with the message "`what` failed: reason".
    static func reportingMergeFailure<T>(_ what: @autoclosure () -> String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ClusteringError(.mergeFailed, "\(what()) failed: \(error)")
        }
    }
}
