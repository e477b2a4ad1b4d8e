import Foundation

/// BERT's uncased WordPiece tokenizer, producing the same token ids as the reference `tokenizers`
/// library for a sentence-transformers model: special tokens written literally in the text (`[SEP]`)
/// are recognised first, the rest is normalised (`BertNormalizer`), split into words
/// (`BertPreTokenizer`), and each word is cut greedily into the longest vocabulary pieces from the left
/// (continuations prefixed with `##`); a word longer than `maxCharactersPerWord` or with an unmatched
/// rest becomes `[UNK]`. Sequences are `[CLS] pieces… [SEP]`, truncated to `maxLength` ids.
public struct WordPieceTokenizer: Sendable {
    /// Tokenizer settings; `init(modelDirectory:)` reads them from the model's config files.
    public struct Options: Sendable, Hashable {
        public var normalizer: BertNormalizer
        /// Most ids in one encoded sequence, `[CLS]` and `[SEP]` included (at least 2).
        public var maxLength: Int
        /// Words with more Unicode scalars than this become `[UNK]`.
        public var maxCharactersPerWord: Int
        public var continuationPrefix: String

        public init(normalizer: BertNormalizer = BertNormalizer(), maxLength: Int = 256,
                    maxCharactersPerWord: Int = 100, continuationPrefix: String = "##") {
            self.normalizer = normalizer
            self.maxLength = maxLength
            self.maxCharactersPerWord = maxCharactersPerWord
            self.continuationPrefix = continuationPrefix
        }
    }

    public let options: Options
    /// Token strings by id (the lines of vocab.txt).
    public let vocabulary: [String]
    public let unknownID: Int32
    public let classifierID: Int32
    public let separatorID: Int32
    public let paddingID: Int32

    /// Lookup by exact scalar sequence: Swift `String` equality is canonical equivalence, which would
    /// match e.g. a pair of conjoining jamo against a precomposed hangul syllable; the reference does not.
    private let idsByScalars: [[UInt32]: Int32]
    private let prefixScalars: [UInt32]
    /// Longest vocabulary entry in scalars, bounding the greedy search.
    private let longestEntry: Int
    /// Special tokens recognised verbatim in the input, longest first.
    private let specialTokens: [(scalars: [Unicode.Scalar], id: Int32)]

    public init(vocabulary: [String], options: Options = Options()) throws(ModelRuntimeError) {
        guard options.maxLength >= 2 else {
            throw ModelRuntimeError(.invalidArgument, "the maximum sequence length is \(options.maxLength); it must leave room for [CLS] and [SEP]")
        }
        guard options.maxCharactersPerWord >= 1 else {
            throw ModelRuntimeError(.invalidArgument, "maxCharactersPerWord must be at least 1")
        }
        guard !vocabulary.isEmpty, vocabulary.count <= Int(Int32.max) else {
            throw ModelRuntimeError(.invalidVocabulary, "the vocabulary has \(vocabulary.count) entries")
        }
        var ids: [[UInt32]: Int32] = [:]
        ids.reserveCapacity(vocabulary.count)
        var longest = 0
        for (index, token) in vocabulary.enumerated() {
            let key = token.unicodeScalars.map(\.value)
            ids[key] = Int32(index)  // a repeated entry resolves to its last line, as in the reference
            longest = max(longest, key.count)
        }
        func required(_ token: String) throws(ModelRuntimeError) -> Int32 {
            guard let id = ids[token.unicodeScalars.map(\.value)] else {
                throw ModelRuntimeError(.invalidVocabulary, "the vocabulary has no \(token) token")
            }
            return id
        }
        self.options = options
        self.vocabulary = vocabulary
        self.idsByScalars = ids
        self.longestEntry = longest
        self.prefixScalars = options.continuationPrefix.unicodeScalars.map(\.value)
        self.unknownID = try required("[UNK]")
        self.classifierID = try required("[CLS]")
        self.separatorID = try required("[SEP]")
        self.paddingID = try required("[PAD]")
        self.specialTokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
            .compactMap { token in ids[token.unicodeScalars.map(\.value)].map { (Array(token.unicodeScalars), $0) } }
            .sorted { $0.scalars.count > $1.scalars.count }
    }

    /// Reads vocab.txt (one token per line; the line number is the id).
    public init(vocabularyFile: URL, options: Options = Options()) throws(ModelRuntimeError) {
        let text: String
        do {
            text = try String(contentsOf: vocabularyFile, encoding: .utf8)
        } catch {
            throw ModelRuntimeError(.unreadableFile, "cannot read the vocabulary '\(vocabularyFile.path)' as UTF-8 text: \(error.localizedDescription)")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        let vocabulary = lines.map { line in
            // Trailing whitespace (a Windows line end) is not part of the token.
            var scalars = Substring.UnicodeScalarView(line.unicodeScalars)
            while let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() }
            return String(String.UnicodeScalarView(scalars))
        }
        try self.init(vocabulary: vocabulary, options: options)
    }

    /// Reads vocab.txt with the settings of a sentence-transformers model directory:
    /// tokenizer_config.json (`do_lower_case`, `strip_accents`, `tokenize_chinese_chars`) and the
    /// maximum length from sentence_bert_config.json (`max_seq_length`, else 256).
    public init(modelDirectory: URL) throws(ModelRuntimeError) {
        let tokenizerConfig = try ModelDirectoryFile.jsonObject(modelDirectory, "tokenizer_config.json", required: false)
        let sentenceConfig = try ModelDirectoryFile.jsonObject(modelDirectory, "sentence_bert_config.json", required: false)
        let lowercase = try tokenizerConfig?.bool("do_lower_case", default: true) ?? true
        var stripAccents: Bool?
        if let tokenizerConfig, tokenizerConfig.has("strip_accents") {
            stripAccents = try tokenizerConfig.bool("strip_accents", default: lowercase)
        }
        let cjk = try tokenizerConfig?.bool("tokenize_chinese_chars", default: true) ?? true
        var maxLength = 256
        if let sentenceConfig, sentenceConfig.has("max_seq_length") {
            maxLength = try sentenceConfig.integer("max_seq_length")
            guard maxLength >= 2 else {
                throw ModelRuntimeError(.invalidConfiguration, "max_seq_length in sentence_bert_config.json is \(maxLength); an integer of at least 2 was expected")
            }
        }
        let normalizer = BertNormalizer(separateCJKCharacters: cjk, stripAccents: stripAccents, lowercase: lowercase)
        try self.init(
            vocabularyFile: modelDirectory.appendingPathComponent("vocab.txt"),
            options: Options(normalizer: normalizer, maxLength: maxLength))
    }

    public var vocabularySize: Int { vocabulary.count }

    /// The model input for one text: `[CLS]`, the word pieces, `[SEP]`, at most `options.maxLength` ids.
    public func encode(_ text: String) -> [Int32] {
        var ids = [classifierID]
        ids.append(contentsOf: pieceIDs(text).prefix(options.maxLength - 2))
        ids.append(separatorID)
        return ids
    }

    /// The word-piece ids of a text, without special tokens around it and without truncation.
    public func pieceIDs(_ text: String) -> [Int32] {
        var ids: [Int32] = []
        let raw = Array(text.unicodeScalars)
        var segmentStart = 0
        var i = 0
        while i < raw.count {
            if raw[i] == "[", let special = specialToken(in: raw, at: i) {
                appendPieces(of: raw[segmentStart..<i], to: &ids)
                ids.append(special.id)
                i += special.length
                segmentStart = i
            } else {
                i += 1
            }
        }
        appendPieces(of: raw[segmentStart..<raw.count], to: &ids)
        return ids
    }

    /// The word pieces of a text as strings (for inspection and tests).
    public func pieces(_ text: String) -> [String] {
        pieceIDs(text).map { vocabulary[Int($0)] }
    }

    private func specialToken(in raw: [Unicode.Scalar], at start: Int) -> (id: Int32, length: Int)? {
        for token in specialTokens where start + token.scalars.count <= raw.count {
            if raw[start..<(start + token.scalars.count)].elementsEqual(token.scalars) {
                return (token.id, token.scalars.count)
            }
        }
        return nil
    }

    private func appendPieces(of segment: ArraySlice<Unicode.Scalar>, to ids: inout [Int32]) {
        guard !segment.isEmpty else { return }
        let normalized = options.normalizer.normalize(String(String.UnicodeScalarView(segment)))
        for word in BertPreTokenizer.words(normalized) {
            appendWordPieces(of: word.map(\.value), to: &ids)
        }
    }

    /// Greedy longest-match-first split of one word.
    private func appendWordPieces(of word: [UInt32], to ids: inout [Int32]) {
        guard word.count <= options.maxCharactersPerWord else {
            ids.append(unknownID)
            return
        }
        var pieces: [Int32] = []
        var start = 0
        var key: [UInt32] = []
        while start < word.count {
            let prefix = start > 0 ? prefixScalars : []
            var end = min(word.count, start + max(0, longestEntry - prefix.count))
            var found: Int32?
            while end > start {
                key.removeAll(keepingCapacity: true)
                key.append(contentsOf: prefix)
                key.append(contentsOf: word[start..<end])
                if let id = idsByScalars[key] {
                    found = id
                    break
                }
                end -= 1
            }
            guard let id = found else {
                ids.append(unknownID)
                return
            }
            pieces.append(id)
            start = end
        }
        ids.append(contentsOf: pieces)
    }
}
