import AdapterCore

/// Why a read (`route`, `route.text`, `show`, `export`, or the lookup of a task to remove) has no
/// answer: the query is malformed, or what it names is not installed or not served. The message says
/// which; what a client gets for each kind is decided in Server/WireErrors.swift.
typealias ReadError = CodedError<ReadErrorCode>

/// The kind of a `ReadError`.
enum ReadErrorCode: ErrorCode {
    /// The params ask for something the method does not answer (e.g. `route` without a task).
    case invalidQuery
    /// No task of that name is installed.
    case taskNotInstalled
    /// The task is installed but the current generation does not serve it (or its files are damaged).
    case taskNotServed
    /// No served adapter of the current generation is the one asked for (or none is current).
    case clusterNotServed
    /// The served adapter's files cannot be read: damaged, or gone with a replaced generation.
    case filesUnreadable
    /// The text to route could not be embedded.
    case embeddingFailed
}
