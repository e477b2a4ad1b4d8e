import JSONStrings
import Testing

@Suite("JSON string bodies")
struct JSONStringBodyTests {
    static func reference(_ bytes: [UInt8], from start: Int) -> Int {
        var i = start
        while i < bytes.count, bytes[i] >= 0x20, bytes[i] < 0x80, bytes[i] != 0x22, bytes[i] != 0x5C { i += 1 }
        return i - start
    }

    /// The word-at-a-time run of plain characters equals a byte-by-byte count wherever the first byte
    /// that ends it stands (every kind of byte at every offset in and around a word).
    @Test func everyStopByteAtEveryOffsetEndsThePlainRunWhereAByteLoopWould() {
        let stops: [UInt8] = [0x22, 0x5C, 0x00, 0x01, 0x1F, 0x80, 0xC3, 0xFF]
        let plain: [UInt8] = [0x20, 0x21, 0x23, 0x2F, 0x41, 0x5B, 0x5D, 0x7E, 0x7F, 0x3D]
        for length in [0, 1, 7, 8, 9, 15, 16, 17, 40] {
            for start in 0..<min(3, length + 1) {
                var bytes = (0..<length).map { plain[$0 % plain.count] }
                let whole = bytes.withUnsafeBufferPointer { JSONStringBody.plainRunLength($0, from: start) }
                #expect(whole == length - start)
                for at in start..<length {
                    for stop in stops {
                        let saved = bytes[at]
                        bytes[at] = stop
                        let fast = bytes.withUnsafeBufferPointer { JSONStringBody.plainRunLength($0, from: start) }
                        #expect(fast == Self.reference(bytes, from: start), "length \(length) start \(start) stop \(stop) at \(at)")
                        bytes[at] = saved
                    }
                }
            }
        }
    }

    static func decode(_ text: String) -> Result<(value: String, end: Int), JSONStringBody.Failure> {
        Array(text.utf8).withUnsafeBufferPointer { JSONStringBody.decode($0, from: 1) }
    }

    /// Escapes, pairs and UTF-8 decoded; the end is just after the closing quote, wherever it stands.
    @Test func decodesWhatJSONAllows() throws {
        let cases: [(String, String)] = [
            (#""plain" tail"#, "plain"), (#""a\"b\\c\/d\b\f\n\r\t""#, "a\"b\\c/d\u{8}\u{C}\n\r\t"),
            (#""\u00e9\u0041 é 😀 \ud83d\ude00""#, "éA é 😀 😀"), (#""\u0000""#, "\u{0}"),
            ("\"" + String(repeating: "QUJD", count: 1_000) + "\"", String(repeating: "QUJD", count: 1_000)),
        ]
        for (text, expected) in cases {
            let decoded = try Self.decode(text).get()
            #expect(decoded.value == expected, "\(text)")
            #expect(decoded.end == Array(text.utf8).lastIndex(of: 0x22)! + 1, "\(text)")
        }
    }

    /// Each refusal with its kind and the offset StrictJSON reports it at.
    @Test func refusesWhatJSONDoesNot() {
        let cases: [(String, JSONStringBody.Failure.Kind, Int)] = [
            (#""abc"#, .unterminated, 4), (#""ab\"#, .unterminatedEscape, 4), (#""a\x""#, .invalidEscape, 4),
            (#""\u12"#, .unterminatedUnicodeEscape, 3), (#""\u12g4""#, .invalidUnicodeEscape, 5),
            (#""\ud800""#, .loneSurrogate, 7), (#""\ud800\u0041""#, .loneSurrogate, 13), (#""\udc00""#, .loneSurrogate, 7),
            ("\"a\u{01}\"", .controlCharacter, 2), ("\"ab\\n\u{1F}\"", .controlCharacter, 5),
        ]
        for (text, kind, offset) in cases {
            guard case .failure(let failure) = Self.decode(text) else {
                Issue.record("\(text) was read")
                continue
            }
            #expect(failure.kind == kind, "\(text)")
            #expect(failure.offset == offset, "\(text)")
        }
        // Invalid UTF-8, raw and among escapes: reported just after the closing quote.
        for bytes in [[0x22, 0x61, 0xFF, 0x22], [0x22, 0x5C, 0x6E, 0xC3, 0x22]] as [[UInt8]] {
            let decoded = bytes.withUnsafeBufferPointer { JSONStringBody.decode($0, from: 1) }
            guard case .failure(let failure) = decoded else {
                Issue.record("\(bytes) was read")
                continue
            }
            #expect(failure.kind == .notUTF8)
            #expect(failure.offset == bytes.count)
        }
    }
}
