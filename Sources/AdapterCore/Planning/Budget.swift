import Foundation

/// The byte budget of the served set: no limit, or at most so many bytes of adapter files.
///
/// One shape from the command line to the catalog: flags and the configuration file parse into it
/// (`parse`), the wire carries it as a byte count or null (`init(limitBytes:)`, `limitBytes`), the
/// planner is given the byte count of `.bytes` (an unlimited budget never reaches it: every task's own
/// adapter fits), and the catalog stores it explicitly (`unlimited`, never a sentinel number).
public enum Budget: Sendable, Hashable, CustomStringConvertible {
    case unlimited
    case bytes(Int64)

    /// The words that mean "no limit" in a size text (any case, surrounding blanks ignored).
    public static let unlimitedSpellings: Set<String> = ["unlimited", "none", "infinity"]

    /// A limit as the wire and the status carry it: nil is unlimited.
    public init(limitBytes: Int64?) {
        self = limitBytes.map(Budget.bytes) ?? .unlimited
    }

    /// Parses `unlimited`/`none`/`infinity`, else a size with `parseSize` (e.g. `ByteSize.parse`).
    public static func parse<Failure: Error>(
        _ text: String, size parseSize: (String) throws(Failure) -> Int64
    ) throws(Failure) -> Budget {
        let word = text.trimmingCharacters(in: .whitespaces).lowercased()
        if unlimitedSpellings.contains(word) { return .unlimited }
        return .bytes(try parseSize(text))
    }

    /// The limit in bytes, nil when unlimited (the wire's and the status's shape).
    public var limitBytes: Int64? {
        switch self {
        case .unlimited: nil
        case .bytes(let bytes): bytes
        }
    }

    /// Whether `bytes` of adapter files fit (always, when unlimited).
    public func fits(_ bytes: Int64) -> Bool {
        switch self {
        case .unlimited: true
        case .bytes(let limit): bytes <= limit
        }
    }

    /// `unlimited` or the byte count, e.g. `67108864 bytes`.
    public var description: String {
        switch self {
        case .unlimited: "unlimited"
        case .bytes(let bytes): "\(bytes) bytes"
        }
    }

    /// `unlimited` or the byte count formatted by `format` (e.g. `ByteSize.format`).
    public func formatted(_ format: (Int64) -> String) -> String {
        limitBytes.map(format) ?? "unlimited"
    }
}

/// Coded as the wire carries a limit: a byte count, or null for unlimited (as `Int64?` is coded).
extension Budget: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        self = container.decodeNil() ? .unlimited : .bytes(try container.decode(Int64.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .unlimited: try container.encodeNil()
        case .bytes(let bytes): try container.encode(bytes)
        }
    }
}
