import Foundation

/// The byte budget of the served set: no limit, or at most so many bytes of adapter files.
///
/// One shape from the command line to the catalog: flags and the configuration file parse into it
/// (`parse`), the protocol's messages carry it (as a byte count, unlimited left out or null), the
/// planner is given the byte count of `.bytes` (an unlimited budget never reaches it: every task's own
/// adapter fits), and the catalog stores it explicitly (`unlimited`, never a sentinel number).
public enum Budget: Sendable, Hashable, CustomStringConvertible {
    case unlimited
    case bytes(Int64)

    /// The words that mean "no limit" in a size text (any case, surrounding blanks ignored).
    public static let unlimitedSpellings: Set<String> = ["unlimited", "none", "infinity"]

    /// Parses `unlimited`/`none`/`infinity`, else a size with `ByteSize.parse` (`what` names the text
    /// in errors, e.g. `--budget`).
    public static func parse(_ text: String, what: String = "budget") throws(ByteSizeError) -> Budget {
        let word = text.trimmingCharacters(in: .whitespaces).lowercased()
        if unlimitedSpellings.contains(word) { return .unlimited }
        return .bytes(try ByteSize.parse(text, what: what))
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

    /// `unlimited` or the byte count formatted by `format`, e.g. `64.0 MiB`.
    public func formatted(_ format: (Int64) -> String = ByteSize.format) -> String {
        switch self {
        case .unlimited: "unlimited"
        case .bytes(let bytes): format(bytes)
        }
    }
}

/// Coded as a single value the way `Int64?` is: a byte count, or null for unlimited. (Message fields
/// leave an unlimited budget out instead; AdapterProtocol's `BudgetCoding` says how.)
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
