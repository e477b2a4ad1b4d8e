/// A change of the catalog or the served set (install, removal, budget) that failed, with the state
/// it left: the client gets the cause's code and data and the message "<attempt>: <the cause's
/// message>; <outcome>" (Server/WireErrors.swift).
struct ChangeError: Error, CustomStringConvertible {
    /// What was tried, e.g. "cannot set the budget to 1 MiB".
    let attempt: String
    /// Why it failed: an error that answers a request (its code, message and data go out) or a
    /// fault inside adapterd (`internal error`, with its description).
    let cause: any Error
    /// The state the failure left, e.g. "nothing changed: the budget is still 2 MiB".
    let outcome: String

    var description: String { "\(attempt): \(cause); \(outcome)" }
}
