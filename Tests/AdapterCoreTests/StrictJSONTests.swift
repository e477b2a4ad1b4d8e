import Foundation
import Testing

@testable import AdapterCore

@Suite("StrictJSON: duplicate keys and integers")
struct StrictJSONTests {
    /// An object of `count` keys "k0" … with key `duplicate` written again at `position` (nil: none).
    static func object(count: Int, duplicate: Int?, at position: Int) -> Data {
        var keys = (0..<count).map { "k\($0)" }
        if let duplicate { keys.insert("k\(duplicate)", at: position) }
        return Data(("{" + keys.enumerated().map { "\"\($0.element)\": \($0.offset)" }.joined(separator: ", ") + "}").utf8)
    }

    /// Objects of 1 to 20 keys with any key repeated at any later place — among the first few keys
    /// (checked one by one) and past them (checked by hashing) — are refused naming the key; the same
    /// objects without the repeat parse with every member in order.
    @Test func everyDuplicateKeyIsRefusedWhereverItStands() throws {
        for count in 1...20 {
            let clean = try StrictJSON.parse(Self.object(count: count, duplicate: nil, at: 0))
            #expect(clean.members?.map(\.key) == (0..<count).map { "k\($0)" })
            for duplicate in 0..<count {
                for position in (duplicate + 1)...count {
                    do {
                        _ = try StrictJSON.parse(Self.object(count: count, duplicate: duplicate, at: position))
                        Issue.record("accepted k\(duplicate) twice in \(count) keys")
                    } catch {
                        guard case .duplicateKey(let key, depth: 1) = error else {
                            Issue.record("\(error)"); continue
                        }
                        #expect(key == "k\(duplicate)")
                    }
                }
            }
        }
        // One level down too.
        let nested = Data(#"{"a": {"x": 1, "y": 2, "x": 3}}"#.utf8)
        #expect(throws: StrictJSON.ParseError.duplicateKey("x", depth: 2)) { try StrictJSON.parse(nested) }
    }

    @Test func integersAreWrittenWithoutFractionOrExponent() throws {
        let value = try StrictJSON.parse(Data(#"[7, -3, 8.0, 1e3, 2E1, 99999999999999999999]"#.utf8))
        #expect(value.elements?.map(\.integer) == [7, -3, nil, nil, nil, nil])
    }
}
