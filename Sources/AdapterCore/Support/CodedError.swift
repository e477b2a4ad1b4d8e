/// The kinds of failure of one family of errors (`PEFTError.Code`, `StoreError.Code`, …): each family
/// is one enum conforming to this, and `CodedError<ThatEnum>` is the family's error type.
public protocol ErrorCode: Hashable, Sendable {
    /// What `description` puts before the message ("safetensors: "); empty unless a family says so.
    static var descriptionPrefix: String { get }
}

extension ErrorCode {
    public static var descriptionPrefix: String { "" }
}

/// An error of one family: a `code` callers branch on without parsing text, and a `message` a user can
/// act on. Families are named by a type alias (`public typealias MergeError = CodedError<MergeErrorCode>`),
/// so `MergeError(.noAdapters, "…")`, `MergeError.Code.noAdapters` and `error.code == .noAdapters` read
/// as for a type of their own, and errors of different families stay different types.
public struct CodedError<Family: ErrorCode>: Error, Hashable, Sendable, CustomStringConvertible {
    /// The family's kinds of failure, so callers write `MergeError.Code.noAdapters`.
    public typealias Code = Family

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { Code.descriptionPrefix + message }
}
