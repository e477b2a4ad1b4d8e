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
