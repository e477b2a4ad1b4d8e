import AdapterCore

/// Why the served set could not be planned or written: the budget asked for is invalid or too small
/// to hold the tasks, or planning failed (a stored adapter that cannot be loaded, a plan outdated by a
/// concurrent change). The message says which; what a client gets for each kind is decided in
/// Server/WireErrors.swift.
typealias PlanningError = CodedError<PlanningErrorCode>

/// The kind of a `PlanningError`.
enum PlanningErrorCode: ErrorCode {
    /// The budget asked for is not a valid budget (negative).
    case invalidBudget
    /// The budget cannot hold the tasks even merged; nothing was changed.
    case budgetTooSmall
    /// Planning or writing the plan failed inside adapterd.
    case failed
}
