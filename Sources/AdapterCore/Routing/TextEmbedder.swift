/// Turns a text into a fixed-length vector such that similar texts get a high cosine similarity.
/// Vectors are L2-normalised (all zeros only for a text without any feature).
public protocol TextEmbedder: Sendable {
    /// A short name shown by routing ("hashing-2048").
    var name: String { get }
    var dimension: Int { get }
    func embed(_ text: String) throws -> [Double]
}

/// Why routing could not answer.
public typealias RoutingError = CodedError<RoutingErrorCode>

/// The kinds of `RoutingError`.
public enum RoutingErrorCode: String, ErrorCode {
    /// A task was given without example texts, or the query is empty.
    case noText
    /// Bad parameters (dimension, top-k, duplicate task names, a vector of the wrong length).
    case invalidArgument
    /// The router knows no task.
    case noTasks
}
