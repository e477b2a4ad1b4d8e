import Crypto
import Foundation

/// The SHA-256 of a stored object, which is also its name in the content store.
///
/// Written as 64 lowercase hexadecimal digits (in JSON too). Named `ContentDigest` rather than
/// `Digest` so it never collides with swift-crypto's `Digest` protocol in files importing both.
public struct ContentDigest: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// 64 lowercase hexadecimal digits.
    public let hex: String

    /// Parses 64 hexadecimal digits (either case); nil for anything else.
    public init?(hex: String) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 64, utf8.allSatisfy(Self.isHexDigit) else { return nil }
        self.hex = hex.lowercased()
    }

    /// The digest of `data`.
    public static func of(_ data: Data) -> ContentDigest {
        let digest = SHA256.hash(data: data)
        var text = ""
        text.reserveCapacity(64)
        for byte in digest {
            text.append(Self.hexDigits[Int(byte >> 4)])
            text.append(Self.hexDigits[Int(byte & 0x0f)])
        }
        return ContentDigest(validatedHex: text)
    }

    /// The first two hex digits: the fan-out directory under objects/.
    public var prefix: String { String(hex.prefix(2)) }

    public var description: String { hex }

    public static func < (lhs: ContentDigest, rhs: ContentDigest) -> Bool { lhs.hex < rhs.hex }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let digest = ContentDigest(hex: text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "'\(text)' is not a SHA-256 digest (64 hex digits)")
        }
        self = digest
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }

    init(validatedHex: String) { self.hex = validatedHex }

    private static let hexDigits: [Character] = Array("0123456789abcdef")

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66) || (byte >= 0x41 && byte <= 0x46)
    }
}
