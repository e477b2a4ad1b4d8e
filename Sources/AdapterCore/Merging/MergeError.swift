/// Why adapters could not be merged.
public struct MergeError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
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

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
