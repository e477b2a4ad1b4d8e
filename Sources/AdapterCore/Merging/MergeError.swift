/// Why adapters could not be merged.
public typealias MergeError = CodedError<MergeErrorCode>

/// The kinds of `MergeError`.
public enum MergeErrorCode: String, ErrorCode {
    /// The list of adapters is empty.
    case noAdapters
    /// Weights are missing, extra or not finite.
    case invalidWeights
    /// The adapters were trained on different base models or architectures.
    case baseModelMismatch
    /// A module has different shapes (or fused layouts) in two adapters.
    case shapeMismatch
    /// A method parameter (rank, density, drop probability) is out of range.
    case invalidParameter
    /// The numerical computation failed (a LAPACK error or non-finite values).
    case computation
}
