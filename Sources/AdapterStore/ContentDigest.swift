import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

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
        ContentDigest(validatedHex: hexString(SHA256.hash(data: data)))
    }

    private static func hexString(_ digest: SHA256.Digest) -> String {
        var text = ""
        text.reserveCapacity(64)
        for byte in digest {
            text.append(Self.hexDigits[Int(byte >> 4)])
            text.append(Self.hexDigits[Int(byte & 0x0f)])
        }
        return text
    }

    /// The digest of everything readable from `fd` (read in pieces of 1 MiB), and how many bytes that was.
    static func of(fileDescriptor fd: Int32, path: String) throws -> (digest: ContentDigest, bytes: Int) {
        var hasher = SHA256()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var total = 0
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw FileSystem.ioError("read", path)
            }
            if count == 0 { break }
            hasher.update(data: buffer[0..<count])
            total += count
        }
        return (ContentDigest(validatedHex: hexString(hasher.finalize())), total)
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
