import Foundation
import Testing
@testable import AdapterCore

@Suite struct WordPieceTokenizerTests {
    /// Reference ids from the `tokenizers` library on a 181-token vocabulary; runs without the model.
    @Test func smallVocabularyMatchesTheTokenizersLibrary() throws {
        let reference = try MiniLMFixtures.load(MiniLMFixtures.TokenReference.self, "small_vocab_reference.json")
        let tokenizer = try WordPieceTokenizer(
            vocabularyFile: MiniLMFixtures.directory.appendingPathComponent("small_vocab.txt"),
            options: .init(maxLength: reference.max_length))
        #expect(tokenizer.vocabularySize == 181)
        #expect(reference.cases.count >= 25)
        for item in reference.cases {
            let ids = tokenizer.encode(item.text)
            #expect(ids == item.ids, "\(item.text.debugDescription): \(ids.map { tokenizer.vocabulary[Int($0)] })")
        }
    }

    @Test(.enabled(if: MiniLMFixtures.modelDirectory != nil, MiniLMFixtures.modelMissing))
    func miniLMVocabularyMatchesTheTokenizersLibrary() throws {
        let tokenizer = try WordPieceTokenizer(modelDirectory: try #require(MiniLMFixtures.modelDirectory))
        let reference = try MiniLMFixtures.load(MiniLMFixtures.TokenReference.self, "tokenizer_reference.json")
        #expect(tokenizer.vocabularySize == 30522)
        #expect(tokenizer.options.maxLength == reference.max_length)
        #expect(tokenizer.options.normalizer.lowercase && tokenizer.options.normalizer.stripAccents)
        #expect((tokenizer.classifierID, tokenizer.separatorID, tokenizer.unknownID, tokenizer.paddingID) == (101, 102, 100, 0))
        for item in reference.cases {
            let ids = tokenizer.encode(item.text)
            #expect(ids == item.ids, "\(item.text.debugDescription): \(ids.map { tokenizer.vocabulary[Int($0)] })")
        }
    }

    static let specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

    @Test func greedyLongestMatchFirstWithContinuationPrefix() throws {
        let tokenizer = try WordPieceTokenizer(vocabulary: Self.specials + ["un", "una", "##ff", "##able", "##aff", "a", "##a"])
        #expect(tokenizer.pieces("unaffable") == ["una", "##ff", "##able"])
        #expect(tokenizer.pieces("aaa") == ["a", "##a", "##a"])
        // One unmatched rest makes the whole word unknown, not just the rest.
        #expect(tokenizer.pieces("unaffablez un") == ["[UNK]", "un"])
        #expect(tokenizer.encode("una") == [2, 6, 3])
    }

    @Test func wordsLongerThanTheLimitAreUnknown() throws {
        var options = WordPieceTokenizer.Options()
        options.maxCharactersPerWord = 4
        let tokenizer = try WordPieceTokenizer(vocabulary: Self.specials + ["a", "##a"], options: options)
        #expect(tokenizer.pieces("aaaa") == ["a", "##a", "##a", "##a"])
        #expect(tokenizer.pieces("aaaaa") == ["[UNK]"])
        // Accents are stripped before the length is counted.
        #expect(tokenizer.pieces("áàâä") == ["a", "##a", "##a", "##a"])
    }

    @Test func truncationKeepsClassifierAndSeparator() throws {
        let tokenizer = try WordPieceTokenizer(vocabulary: Self.specials + ["a"], options: .init(maxLength: 4))
        #expect(tokenizer.encode("a a a a a a") == [2, 5, 5, 3])
        #expect(tokenizer.encode("") == [2, 3])
        #expect(tokenizer.pieceIDs("a a a a a a").count == 6)
    }

    /// Swift `String` equality is canonical equivalence; the reference compares scalars exactly, so
    /// decomposed jamo must not find a precomposed syllable in the vocabulary.
    @Test func vocabularyLookupComparesScalarsNotCanonicalEquivalence() throws {
        let tokenizer = try WordPieceTokenizer(vocabulary: Self.specials + ["\u{D558}", "\u{1112}", "##\u{1161}"])
        #expect(tokenizer.pieces("\u{D558}") == ["\u{1112}", "##\u{1161}"])
        let onlyComposed = try WordPieceTokenizer(vocabulary: Self.specials + ["\u{D558}"])
        #expect(onlyComposed.pieces("\u{D558}") == ["[UNK]"])
    }

    @Test func specialTokensAreRecognisedOnlyVerbatim() throws {
        let tokenizer = try WordPieceTokenizer(vocabulary: Self.specials + ["a", "[", "]", "sep"])
        #expect(tokenizer.pieces("a[SEP]a [sep] [MASK]") == ["a", "[SEP]", "a", "[", "sep", "]", "[MASK]"])
    }

    @Test func normalizerFollowsBERT() {
        let bert = BertNormalizer()
        func normalized(_ s: String) -> String { String(String.UnicodeScalarView(bert.normalize(s))) }
        #expect(normalized("Ça\u{00A0}VA\u{200B}!\u{0000}") == "ca va!")
        #expect(normalized("中文x") == " 中  文 x")
        #expect(normalized("İ") == "i")
        #expect(normalized("\u{0378}") == "\u{0378}")  // unassigned code points stay
        let cased = BertNormalizer(lowercase: false)
        #expect(!cased.stripAccents)
        #expect(String(String.UnicodeScalarView(cased.normalize("Café"))) == "Café")
        #expect(BertPreTokenizer.words(Array("a$b, c".unicodeScalars)).map { String(String.UnicodeScalarView($0)) } == ["a", "$", "b", ",", "c"])
    }

    @Test func badVocabulariesAreClearErrors() throws {
        #expect {
            try WordPieceTokenizer(vocabulary: ["[PAD]", "[CLS]", "[SEP]", "a"])
        } throws: { error in
            (error as? EmbeddingError)?.code == .invalidVocabulary && "\(error)".contains("[UNK]")
        }
        #expect(throws: EmbeddingError.self) { try WordPieceTokenizer(vocabulary: []) }
        #expect(throws: EmbeddingError.self) { try WordPieceTokenizer(vocabulary: Self.specials, options: .init(maxLength: 1)) }
        #expect {
            try WordPieceTokenizer(vocabularyFile: URL(fileURLWithPath: "/nonexistent/vocab.txt"))
        } throws: { error in
            (error as? EmbeddingError)?.code == .unreadableFile
        }
    }

    @Test func modelDirectorySettingsAreRead() throws {
        let tokenizer = try WordPieceTokenizer(modelDirectory: MiniLMFixtures.tinyModel)
        #expect(tokenizer.options.maxLength == 16)
        #expect(tokenizer.options.normalizer.lowercase && tokenizer.options.normalizer.stripAccents)
        #expect(tokenizer.vocabularySize == 181)
    }
}
