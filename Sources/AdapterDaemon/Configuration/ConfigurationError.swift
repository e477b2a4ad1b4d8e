/// A problem with the configuration file, a command-line flag or a setting's value.
public struct ConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: Hashable, Sendable {
        case unreadableFile
        case syntax
        case unknownKey
        case invalidValue
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
