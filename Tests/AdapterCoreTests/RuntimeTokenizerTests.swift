import Foundation
import Testing
@testable import AdapterCore

@Suite struct RuntimeTokenizerTests {
    /// Ids of ~30 tricky strings (accents, combining marks, emoji, CJK, control characters, U+000B and
    /// U+0085, special tokens written in the text, long words, a long text) against the `tokenizers`
    /// library, with and without the post-processor's special tokens.
    @Test(arguments: ["bert"] + RuntimeFixtures.decoderCases)
    func tokenIDsMatchTheTokenizersLibrary(_ name: String) throws {
        let (reference, _) = try RuntimeFixtures.reference(name)
        let tokenizer = try TokenizerLoader.load(modelDirectory: RuntimeFixtures.model(name))
        #expect(reference.tokenizer_cases.count >= 30)
        var mismatches = 0
        for item in reference.tokenizer_cases {
            let ids = tokenizer.encode(item.text)
            let plain = tokenizer.encode(item.text, addingSpecialTokens: false)
            if ids != item.ids || plain != item.ids_plain { mismatches += 1 }
            #expect(ids == item.ids, "\(name): \(item.text.debugDescription)")
            #expect(plain == item.ids_plain, "\(name) without special tokens: \(item.text.debugDescription)")
        }
        #expect(mismatches == 0)
    }

    @Test(.enabled(if: RuntimeFixtures.llamaTinyPresent, "data/corpus/base/llama-tiny is not in this checkout"))
    func wordLevelIDsMatchLlamaTinyPython() throws {
        let (reference, _) = try RuntimeFixtures.reference("llama-tiny")
        let file = RuntimeFixtures.llamaTiny.appendingPathComponent(WordLevelTokenizer.fileName)
        let tokenizer = try WordLevelTokenizer(file: file, maxWords: reference.max_tokens)
        #expect(tokenizer.vocabularySize == 925 && tokenizer.unknownID == 3 && tokenizer.beginningOfSequenceID == 1)
        for item in reference.tokenizer_cases {
            #expect(tokenizer.encode(item.text) == item.ids, "\(item.text.debugDescription)")
        }
        // Without the limit the long text keeps all its words.
        let unlimited = try WordLevelTokenizer(file: file)
        let long = try #require(reference.tokenizer_cases.last)
        #expect(unlimited.encode(long.text).count == 60 && long.ids.count == 48)
    }

    /// The GPT-2-style fixture: the template's `<s>` is added, `add_prefix_space` puts a space before
    /// the first word, and special tokens written in the text are cut out before BPE.
    @Test func byteLevelBPEAddsTheTemplateAndCutsAddedTokens() throws {
        let tokenizer = try BPETokenizer(tokenizerFile: RuntimeFixtures.model("llama").appendingPathComponent("tokenizer.json"))
        let plain = tokenizer.encode("hello", addingSpecialTokens: false)
        #expect(tokenizer.encode("hello") == [0] + plain)
        #expect(tokenizer.encode(" hello", addingSpecialTokens: false) == plain)  // the prefix space is not doubled
        #expect(tokenizer.encode("<s>hello</s>", addingSpecialTokens: false) == [0] + plain + [1])
        #expect(tokenizer.vocabularySize == 320)
    }

    /// One tokenizer value serves concurrent callers (the regexes are shared).
    @Test func tokenizersAreUsableConcurrently() throws {
        let (reference, _) = try RuntimeFixtures.reference("qwen2")
        let tokenizer = try TokenizerLoader.load(modelDirectory: RuntimeFixtures.model("qwen2"))
        let cases = reference.tokenizer_cases
        let mismatches = ConcurrentResults(count: 1)
        mismatches.set(0, [[0]])
        DispatchQueue.concurrentPerform(iterations: 4 * cases.count) { i in
            let item = cases[i % cases.count]
            if tokenizer.encode(item.text) != item.ids { mismatches.set(0, [[1]]) }
        }
        #expect(mismatches.get(0) == [[0]])
    }

    @Test func theRegexDialectsMeanWhatTheirLibrariesMean() throws {
        // Oniguruma's and Python's \s include U+000B and U+0085; ICU's does not. Python's also U+001C…U+001F.
        let onig = try TokenizerRegex(#"\s+"#, dialect: .oniguruma)
        #expect(onig.matches(in: "a\u{0B}\u{85}b").count == 1)
        #expect(onig.matches(in: "a\u{1C}b").isEmpty)
        let python = try TokenizerRegex(#"[^\sa-z]"#, dialect: .python)
        #expect(python.matches(in: "a\u{1C}\u{0B}\u{85} !").count == 1)
        let pythonNonSpace = try TokenizerRegex(#"\S+"#, dialect: .python)
        #expect(pythonNonSpace.matches(in: "ab\u{1D}cd").count == 2)
        #expect(TokenizerRegex.rewrite(#"\\s"#, dialect: .oniguruma) == #"\\s"#)  // an escaped backslash stays
        #expect(try TokenizerRegex("x", dialect: .oniguruma).isolatedPieces(of: "axbx") == ["a", "x", "b", "x"])
    }

    /// Tokenizer files the runtime does not implement are refused by name, never guessed at.
    @Test func unsupportedTokenizerKindsAreClearErrors() throws {
        let base = try String(contentsOf: RuntimeFixtures.model("qwen2").appendingPathComponent("tokenizer.json"), encoding: .utf8)
        let cases: [(String, String, ModelRuntimeError.Code, String)] = [
            ("\"type\": \"BPE\"", "\"type\": \"Unigram\"", .unsupportedTokenizer, "Unigram"),
            ("\"type\": \"NFC\"", "\"type\": \"Precompiled\"", .unsupportedTokenizer, "Precompiled"),
            ("\"type\": \"ByteLevel\"", "\"type\": \"Metaspace\"", .unsupportedTokenizer, "Metaspace"),
            ("\"byte_fallback\": false", "\"byte_fallback\": true", .unsupportedTokenizer, "byte_fallback"),
            ("\"dropout\": null", "\"dropout\": 0.1", .unsupportedTokenizer, "dropout"),
            ("\"single_word\": false", "\"single_word\": true", .unsupportedTokenizer, "single_word"),
            ("\"behavior\": \"Isolated\"", "\"behavior\": \"MergedWithNext\"", .unsupportedTokenizer, "MergedWithNext"),
            ("\"merges\": [", "\"merges\": [[\"Ġ\", \"not-a-token\"], ", .invalidVocabulary, "merge 0"),
        ]
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("runtime-tokenizer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (from, to, code, mention) in cases {
            let edited = try Self.replacingFirst(from, with: to, in: base)
            try edited.write(to: directory.appendingPathComponent("tokenizer.json"), atomically: true, encoding: .utf8)
            #expect { try TokenizerLoader.load(modelDirectory: directory) } throws: { error in
                (error as? ModelRuntimeError)?.code == code && "\(error)".contains(mention)
            }
        }
        try Data("[]".utf8).write(to: directory.appendingPathComponent("tokenizer.json"))
        #expect { try TokenizerLoader.load(modelDirectory: directory) } throws: { error in
            (error as? ModelRuntimeError)?.code == .invalidVocabulary
        }
        try FileManager.default.removeItem(at: directory.appendingPathComponent("tokenizer.json"))
        #expect { try TokenizerLoader.load(modelDirectory: directory) } throws: { error in
            (error as? ModelRuntimeError)?.code == .unreadableFile && "\(error)".contains("tokenizer.json")
        }
    }

    /// The WordPiece tokenizer read from the real MiniLM's tokenizer.json gives the ids of its vocab.txt
    /// tokenizer (up to the file's own truncation to 128 ids).
    @Test(.enabled(if: MiniLMFixtures.modelDirectory != nil, MiniLMFixtures.modelMissing))
    func miniLMTokenizerJSONAgreesWithVocabTxt() throws {
        let directory = try #require(MiniLMFixtures.modelDirectory)
        let fromJSON = try WordPieceTokenizer(tokenizerFile: directory.appendingPathComponent("tokenizer.json"))
        let fromVocab = try WordPieceTokenizer(modelDirectory: directory)
        #expect(fromJSON.options.maxLength == 128)
        let reference = try MiniLMFixtures.load(MiniLMFixtures.TokenReference.self, "tokenizer_reference.json")
        for item in reference.cases {
            #expect(fromJSON.encode(item.text, addingSpecialTokens: false) == fromVocab.pieceIDs(item.text))
            #expect(fromJSON.encode(item.text) == Array(item.ids.prefix(127)) + (item.ids.count > 128 ? [fromJSON.separatorID] : []))
        }
    }

    static func replacingFirst(_ target: String, with replacement: String, in text: String) throws -> String {
        let range = try #require(text.range(of: target), "'\(target)' is not in the file")
        return text.replacingCharacters(in: range, with: replacement)
    }
}
