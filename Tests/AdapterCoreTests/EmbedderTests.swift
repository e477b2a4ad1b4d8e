import Testing
@testable import AdapterCore

@Suite struct EmbedderTests {
    static func cosine(_ x: [Double], _ y: [Double]) -> Double { zip(x, y).reduce(0) { $0 + $1.0 * $1.1 } }

    @Test func isDeterministicAndUnitLength() throws {
        let text = "Translate to French: the meeting moved to Thursday."
        let a = try HashingTextEmbedder().embed(text)
        let b = try HashingTextEmbedder().embed(text)
        #expect(a == b)
        #expect(a.count == 2048)
        #expect(abs(Self.cosine(a, a) - 1) < 1e-12)
        #expect(try HashingTextEmbedder(dimension: 1024).embed(text).count == 1024)
        // Same words in another case and punctuation embed identically.
        #expect(try HashingTextEmbedder().embed("TRANSLATE to french -- the meeting moved to thursday") == a)
    }

    @Test func textWithoutWordsIsTheZeroVector() throws {
        let v = try HashingTextEmbedder().embed("  ?! ... ")
        #expect(v.allSatisfy { $0 == 0 })
    }

    @Test func relatedTextsAreCloserThanUnrelatedOnes() throws {
        let e = try HashingTextEmbedder()
        let query = e.embed("please translate this sentence into French")
        let inflected = e.embed("translating these sentences to french")
        let unrelated = e.embed("what is the capital city of Peru")
        #expect(Self.cosine(query, inflected) > 0.3)
        #expect(Self.cosine(query, inflected) > Self.cosine(query, unrelated) + 0.2)
    }

    @Test func splitsIntoLowercasedWordsOfLettersAndDigits() {
        #expect(HashingTextEmbedder.words(of: "Hello, WORLD! x2 café-au-lait") == ["hello", "world", "x2", "café", "au", "lait"])
        #expect(HashingTextEmbedder.words(of: "") == [])
    }

    @Test func refusesBadSettings() {
        #expect(throws: RoutingError.self) { try HashingTextEmbedder(dimension: 8) }
        #expect(throws: RoutingError.self) { try HashingTextEmbedder(characterGrams: 0...3) }
    }
}
