import AdapterCore
import Foundation
import Testing

/// `Budget`: the spellings of "no limit", `fits`, and a coding identical to the `Int64?` it replaces
/// on the wire (a byte count, or null).
@Suite("Budget")
struct BudgetTests {
    @Test(arguments: ["unlimited", "none", "infinity", "UNLIMITED", " None ", "Infinity"])
    func unlimitedSpellings(text: String) throws {
        #expect(try Budget.parse(text) == .unlimited)
    }

    @Test func sizesGoToTheSizeParser() throws {
        #expect(try Budget.parse("4096") == .bytes(4096))
        #expect(try Budget.parse("1KiB") == .bytes(1024))
        #expect(throws: ByteSizeError.self) { try Budget.parse("lots") }
    }

    @Test func fits() {
        #expect(Budget.unlimited.fits(.max))
        #expect(Budget.bytes(100).fits(100))
        #expect(!Budget.bytes(100).fits(101))
        #expect(Budget.unlimited.description == "unlimited")
        #expect(Budget.bytes(7).formatted { "\($0)B" } == "7B")
        #expect(Budget.bytes(1536).formatted() == "1.5 KiB")
        #expect(Budget.unlimited.formatted() == "unlimited")
    }

    /// The `budget.set` params' coding (docs/PROTOCOL.md): `bytes` is always present, null for unlimited.
    struct Old: Codable {
        var bytes: Int64?
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            if let bytes { try container.encode(bytes, forKey: .bytes) } else { try container.encodeNil(forKey: .bytes) }
        }
    }
    struct New: Codable { var bytes: Budget }

    @Test(arguments: [Int64?.none, 0, 67_108_864, .max])
    func wireFormatUnchanged(bytes: Int64?) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let old = try encoder.encode([Old(bytes: bytes)])
        let new = try encoder.encode([New(bytes: bytes.map(Budget.bytes) ?? .unlimited)])
        #expect(String(decoding: new, as: UTF8.self) == String(decoding: old, as: UTF8.self))
        let back = try JSONDecoder().decode([New].self, from: old)
        #expect(back.first?.bytes == bytes.map(Budget.bytes) ?? .unlimited)
    }

    @Test func nullDecodesAsUnlimited() throws {
        let decoded = try JSONDecoder().decode([Budget].self, from: Data("[null, 12]".utf8))
        #expect(decoded == [.unlimited, .bytes(12)])
    }
}
