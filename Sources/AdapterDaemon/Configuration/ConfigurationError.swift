import AdapterCore

/// A problem with the configuration file, a command-line flag or a setting's value.
public typealias ConfigurationError = CodedError<ConfigurationErrorCode>

/// The kinds of `ConfigurationError`.
public enum ConfigurationErrorCode: ErrorCode {
    case unreadableFile
    case syntax
    case unknownKey
    case invalidValue
}
