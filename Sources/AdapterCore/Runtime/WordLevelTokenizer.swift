import Foundation

/// The word-level tokenizer of the corpus's llama-tiny (tokenizer_words.json, written by
/// tools/corpus/llama_tiny.py): the text is lower-cased, the `split_regex` (a Python `re` pattern,
/// `findall`) picks the words, and each word is looked up in the vocabulary (unknown words become
/// `unk_token_id`). It adds no special tokens itself; the file's `prompt` template (llama-tiny's is
/// `<bos> text => `) gives `promptIDs`. llama_tiny.py also keeps only the first 48 words; that limit is
/// not in the file, so it is `maxWords` here (nil: no limit).
public struct WordLevelTokenizer: Tokenizer {
    public static let fileName = "tokenizer_words.json"

    /// Token strings by id.
    public let vocabulary: [String]
    public let unknownID: Int32
    public let paddingID: Int32?
    public let beginningOfSequenceID: Int32?
    public let endOfSequenceID: Int32?
    public let lowercase: Bool
    /// Most words kept from one text (the rest is dropped), nil for no limit.
    public let maxWords: Int?
    /// The prompt template's ids, nil standing for the text's words; nil when the file has none.
    public let promptTemplate: [Int32?]?
    private let wordPattern: TokenizerRegex
    /// Lookup by exact scalar sequence (Swift `String` equality is canonical equivalence; Python's is not).
    private let idsByScalars: [[UInt32]: Int32]

    public init(vocabulary: [String], splitPattern: String, lowercase: Bool, unknownID: Int32,
                paddingID: Int32? = nil, beginningOfSequenceID: Int32? = nil, endOfSequenceID: Int32? = nil,
                maxWords: Int? = nil, promptTemplate: String? = nil) throws(ModelRuntimeError) {
        guard !vocabulary.isEmpty, vocabulary.count < Int(Int32.max) else {
            throw ModelRuntimeError(.invalidVocabulary, "the word vocabulary has \(vocabulary.count) entries")
        }
        for (name, id) in [("unk_token_id", unknownID), ("pad_token_id", paddingID), ("bos_token_id", beginningOfSequenceID),
                           ("eos_token_id", endOfSequenceID)] {
            if let id, id < 0 || Int(id) >= vocabulary.count {
                throw ModelRuntimeError(.invalidVocabulary, "\(name) \(id) is outside the vocabulary of \(vocabulary.count) words")
            }
        }
        if let maxWords, maxWords < 1 {
            throw ModelRuntimeError(.invalidArgument, "maxWords is \(maxWords); it must be at least 1")
        }
        var ids: [[UInt32]: Int32] = [:]
        for (index, word) in vocabulary.enumerated() {
            let key = word.unicodeScalars.map(\.value)
            if ids[key] == nil { ids[key] = Int32(index) }  // a repeated word keeps its first id, as llama_tiny's index
        }
        self.vocabulary = vocabulary
        self.unknownID = unknownID
        self.paddingID = paddingID
        self.beginningOfSequenceID = beginningOfSequenceID
        self.endOfSequenceID = endOfSequenceID
        self.lowercase = lowercase
        self.maxWords = maxWords
        self.wordPattern = try TokenizerRegex(splitPattern, dialect: .python)
        self.idsByScalars = ids
        if let promptTemplate {
            var parts: [Int32?] = []
            for word in promptTemplate.split(whereSeparator: \.isWhitespace) {
                if word == "text" {
                    parts.append(nil)
                } else if let id = ids[word.unicodeScalars.map(\.value)] {
                    parts.append(id)
                } else {
                    throw ModelRuntimeError(.invalidVocabulary, "the prompt template '\(promptTemplate)' names '\(word)', which is not in the vocabulary")
                }
            }
            self.promptTemplate = parts
        } else {
            self.promptTemplate = nil
        }
    }

    /// Reads tokenizer_words.json (`kind` "word-level", `split_regex`, `lowercase`, `vocab`, the
    /// `*_token_id`s, `prompt`, and `max_words` if present).
    public init(file url: URL, maxWords: Int? = nil) throws(ModelRuntimeError) {
        let json = try ModelDirectoryFile.jsonObject(at: url, invalid: .invalidVocabulary)
        guard let kind = try json.string("kind"), kind == "word-level" else {
            throw json.error("kind", "\"word-level\"")
        }
        guard let pattern = try json.string("split_regex") else { throw json.error("split_regex", "a regular expression") }
        guard let words = try json.array("vocab") else { throw json.error("vocab", "an array of words") }
        var vocabulary: [String] = []
        vocabulary.reserveCapacity(words.count)
        for word in words {
            guard let text = word.string else { throw json.error("vocab", "an array of strings") }
            vocabulary.append(text)
        }
        func id(_ key: String) throws(ModelRuntimeError) -> Int32? {
            try json.optionalInteger(key).map { Int32(clamping: $0) }
        }
        guard let unknown = try id("unk_token_id") else { throw json.error("unk_token_id", "a token id") }
        let fileMaxWords = try json.optionalInteger("max_words")
        try self.init(vocabulary: vocabulary, splitPattern: pattern, lowercase: json.bool("lowercase", default: true),
                      unknownID: unknown, paddingID: id("pad_token_id"), beginningOfSequenceID: id("bos_token_id"),
                      endOfSequenceID: id("eos_token_id"), maxWords: maxWords ?? fileMaxWords,
                      promptTemplate: json.string("prompt"))
    }

    public var vocabularySize: Int { vocabulary.count }

    /// The ids of the text's words (`addingSpecialTokens` changes nothing: the format adds none).
    public func encode(_ text: String, addingSpecialTokens: Bool) -> [Int32] {
        var source = text
        if lowercase {
            var view = String.UnicodeScalarView()
            for scalar in text.unicodeScalars { view.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars) }
            source = String(view)
        }
        var ids = wordPattern.matches(in: source).map { range in
            idsByScalars[source[range].unicodeScalars.map(\.value)] ?? unknownID
        }
        if let maxWords, ids.count > maxWords { ids.removeLast(ids.count - maxWords) }
        return ids
    }

    /// The prompt for a text: the file's `prompt` template with `text` replaced by the text's words
    /// (llama-tiny: `<bos>`, the words, `=>`, as tools/corpus/llama_tiny.py `prompt_ids`).
    public func promptIDs(_ text: String) throws(ModelRuntimeError) -> [Int32] {
        guard let promptTemplate else {
            throw ModelRuntimeError(.invalidVocabulary, "the word-level tokenizer has no prompt template")
        }
        return promptTemplate.flatMap { $0.map { [$0] } ?? encode(text) }
    }
}
