import AdapterCore
import AdapterProtocol

/// Why an install was not made: the request breaks a rule or a limit, the adapter or its examples are
/// invalid, the detector refused the adapter, or the store cannot change now. The message says what
/// and why; what a client gets for each kind is decided in Server/WireErrors.swift.
typealias InstallError = CodedError<InstallErrorCode>

/// The kind of an `InstallError`.
enum InstallErrorCode: ErrorCode {
    /// A param breaks its rules: the task name, base64 that does not decode, the label names.
    case invalidParams
    /// The adapter or the examples exceed their size limit.
    case tooLarge(TooLargeDetails)
    /// The adapter or its examples fail validation, or cannot be measured or screened.
    case invalidAdapter
    /// The detector refused the adapter (recorded in the quarantine).
    case refused(RefusalDetails)
    /// The store cannot change anything now; refused before the heavy work.
    case readOnly
}
