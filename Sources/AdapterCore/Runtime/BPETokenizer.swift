import Foundation

/// Byte-level BPE as Hugging Face `tokenizers` runs a tokenizer.json of GPT-2, Llama-3, Qwen2 and
/// their relatives: added tokens are cut out of the text first; each remaining stretch is normalised
/// (NFC/NFKC/… if configured), split by the pre-tokenizers (a `Split` regex and/or `ByteLevel` with
/// its GPT-2 regex and optional leading space), and each piece — as UTF-8 bytes — is merged pair by
/// pair, the pair of lowest merge rank first (leftmost on ties), or taken whole when `ignore_merges`
/// is set and the piece is in the vocabulary. The post-processor's special tokens are added around
/// the sequence, after truncation if the file sets one.
///
/// The work is done on bytes and ids: the vocabulary's byte-level strings (`Ġ` for a space …) are
/// mapped back to the bytes they stand for, so no string comparison (and no Unicode canonical
/// equivalence) is involved. BPE without the ByteLevel pre-tokenizer (SentencePiece-style models with
/// `▁` and byte fallback), dropout, and subword prefixes/suffixes are refused (`.unsupportedTokenizer`).
public struct BPETokenizer: Tokenizer {
    public let vocabularySize: Int

    private let definition: TokenizerDefinition
    private let rawAddedTokens: AddedTokenSplitter
    private let normalizedAddedTokens: AddedTokenSplitter
    /// Id of each single byte, nil when the vocabulary lacks it.
    private let byteIDs: [Int32?]
    private let idsByBytes: [[UInt8]: Int32]
    /// (left id << 32 | right id) → (merge rank, merged id).
    private let merges: [UInt64: (rank: Int32, id: Int32)]
    private let ignoreMerges: Bool
    private let unknownID: Int32?
    private let fuseUnknown: Bool
    private let gpt2Regex: TokenizerRegex

    /// Reads a tokenizer.json whose model is BPE.
    public init(tokenizerFile url: URL) throws(ModelRuntimeError) {
        try self.init(definition: TokenizerDefinition(file: url))
    }

    init(definition: TokenizerDefinition) throws(ModelRuntimeError) {
        let source = definition.source
        let model = definition.model
        try Self.checkSupported(definition)
        let vocabulary = try Self.readVocabulary(definition)
        let merges = try Self.readMerges(definition, vocabulary: vocabulary)
        var unknownID: Int32?
        if let unknown = try model.string("unk_token") {
            guard let id = vocabulary.idsByToken[unknown] else {
                throw ModelRuntimeError(.invalidVocabulary, "\(source): the unknown token '\(unknown)' is not in the vocabulary")
            }
            unknownID = id
        }
        self.definition = definition
        self.vocabularySize = vocabulary.size
        self.rawAddedTokens = AddedTokenSplitter(definition.addedTokens.filter { !$0.normalized })
        self.normalizedAddedTokens = AddedTokenSplitter(definition.addedTokens.filter(\.normalized))
        self.byteIDs = (0..<256).map { vocabulary.idsByBytes[[UInt8($0)]] }
        self.idsByBytes = vocabulary.idsByBytes
        self.merges = merges
        self.ignoreMerges = try model.bool("ignore_merges", default: false)
        self.unknownID = unknownID
        self.fuseUnknown = try model.bool("fuse_unk", default: false)
        self.gpt2Regex = try TokenizerRegex(TokenizerDefinition.gpt2Pattern, dialect: .oniguruma)
    }

    /// Refuses the BPE variants this tokenizer does not implement (SentencePiece-style, dropout,
    /// subword prefixes and suffixes, byte fallback, BERT pre-tokenizer or normalizer).
    private static func checkSupported(_ definition: TokenizerDefinition) throws(ModelRuntimeError) {
        let source = definition.source
        let model = definition.model
        guard definition.modelType == "BPE" else {
            throw ModelRuntimeError(.invalidVocabulary, "\(source): the model is \(definition.modelType), not BPE")
        }
        guard definition.preTokenizers.contains(where: { if case .byteLevel = $0 { true } else { false } }) else {
            throw ModelRuntimeError(.unsupportedTokenizer,
                "\(source): BPE without a ByteLevel pre-tokenizer (SentencePiece-style) is not implemented; byte-level BPE is")
        }
        if definition.preTokenizers.contains(where: { if case .bert = $0 { true } else { false } }) {
            throw ModelRuntimeError(.unsupportedTokenizer, "\(source): BPE with BertPreTokenizer is not implemented")
        }
        if definition.normalizers.contains(where: { if case .bert = $0 { true } else { false } }) {
            throw ModelRuntimeError(.unsupportedTokenizer, "\(source): BPE with BertNormalizer is not implemented")
        }
        if let dropout = try model.optionalNumber("dropout"), dropout != 0 {
            throw ModelRuntimeError(.unsupportedTokenizer, "\(source): BPE dropout \(dropout) would make ids random; it is not implemented")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] where try !(model.string(key) ?? "").isEmpty {
            throw ModelRuntimeError(.unsupportedTokenizer, "\(source): BPE with a \(key) is not implemented")
        }
        if try model.bool("byte_fallback", default: false) {
            throw ModelRuntimeError(.unsupportedTokenizer, "\(source): BPE byte_fallback (SentencePiece-style) is not implemented")
        }
    }

    /// The vocabulary's ids by token string and by the bytes a byte-level token stands for, and the
    /// id space's size (the largest id of the vocabulary, added and special tokens, plus one).
    private struct Vocabulary {
        var idsByBytes: [[UInt8]: Int32] = [:]
        var idsByToken: [String: Int32] = [:]
        var size = 0
    }

    private static func readVocabulary(_ definition: TokenizerDefinition) throws(ModelRuntimeError) -> Vocabulary {
        let source = definition.source
        guard let vocab = try definition.model.object("vocab") else { throw definition.model.error("vocab", "an object of token ids") }
        var vocabulary = Vocabulary()
        vocabulary.idsByBytes.reserveCapacity(vocab.members.count)
        var seenIDs = Set<Int32>()
        var largest: Int32 = -1
        for member in vocab.members {
            guard let n = member.value.integer, n >= 0, n < Int(Int32.max) else { throw vocab.error(member.key, "a token id") }
            let id = Int32(n)
            guard seenIDs.insert(id).inserted else {
                throw ModelRuntimeError(.invalidVocabulary, "\(source): the vocabulary gives id \(id) to more than one token")
            }
            largest = max(largest, id)
            vocabulary.idsByToken[member.key] = id
            if let bytes = ByteLevelAlphabet.bytes(of: member.key) { vocabulary.idsByBytes[bytes] = id }
        }
        for token in definition.addedTokens { largest = max(largest, token.id) }
        for id in definition.specialPrefix + definition.specialSuffix { largest = max(largest, id) }
        guard largest >= 0 else { throw ModelRuntimeError(.invalidVocabulary, "\(source): the vocabulary is empty") }
        vocabulary.size = Int(largest) + 1
        return vocabulary
    }

    /// The merges ("a b" strings in older files, or ["a", "b"] pairs), keyed by the pair's ids: the
    /// merge's rank (earlier merges first) and the merged token's id.
    private static func readMerges(_ definition: TokenizerDefinition,
                                   vocabulary: Vocabulary) throws(ModelRuntimeError) -> [UInt64: (rank: Int32, id: Int32)] {
        var merges: [UInt64: (rank: Int32, id: Int32)] = [:]
        let mergeList = try definition.model.array("merges") ?? []
        merges.reserveCapacity(mergeList.count)
        for (rank, value) in mergeList.enumerated() {
            let pair: [String]
            if let text = value.string {
                pair = text.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            } else if let elements = value.elements {
                pair = elements.compactMap(\.string)
            } else {
                pair = []
            }
            guard pair.count == 2, let left = vocabulary.idsByToken[pair[0]], let right = vocabulary.idsByToken[pair[1]],
                  let leftBytes = ByteLevelAlphabet.bytes(of: pair[0]), let rightBytes = ByteLevelAlphabet.bytes(of: pair[1]),
                  let merged = vocabulary.idsByBytes[leftBytes + rightBytes] else {
                throw ModelRuntimeError(.invalidVocabulary,
                    "\(definition.source): merge \(rank) (\(value)) is not two byte-level vocabulary tokens whose concatenation is in the vocabulary")
            }
            let key = UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))
            if merges[key] == nil { merges[key] = (Int32(rank), merged) }
        }
        return merges
    }

    public func encode(_ text: String, addingSpecialTokens: Bool) -> [Int32] {
        var ids: [Int32] = []
        for segment in rawAddedTokens.split(text) {
            switch segment {
            case .token(let id):
                ids.append(id)
            case .text(let raw):
                let normalized = definition.normalizers.reduce(raw) { $1.apply($0) }
                for part in normalizedAddedTokens.split(normalized) {
                    switch part {
                    case .token(let id): ids.append(id)
                    case .text(let stretch): appendPieces(of: stretch, to: &ids)
                    }
                }
            }
        }
        guard addingSpecialTokens else { return ids }
        if let truncation = definition.truncation {
            let budget = truncation.maxLength - definition.specialPrefix.count - definition.specialSuffix.count
            if ids.count > budget { ids = truncation.keepsEnd ? Array(ids.suffix(budget)) : Array(ids.prefix(budget)) }
        }
        return definition.specialPrefix + ids + definition.specialSuffix
    }

    /// Pre-tokenizes a normalised stretch of text and appends the BPE ids of each piece.
    private func appendPieces(of text: String, to ids: inout [Int32]) {
        var pieces: [Substring] = [Substring(text)]
        for step in definition.preTokenizers {
            switch step {
            case .split(let regex):
                pieces = pieces.flatMap { regex.isolatedPieces(of: String($0)) }
            case .byteLevel(let addPrefixSpace, let useRegex):
                pieces = pieces.flatMap { piece -> [Substring] in
                    let spaced = addPrefixSpace && piece.unicodeScalars.first != " " ? " " + piece : String(piece)
                    return useRegex ? gpt2Regex.isolatedPieces(of: spaced) : [Substring(spaced)]
                }
            case .bert:
                break  // refused at load
            }
        }
        for piece in pieces {
            appendMerged(Array(piece.utf8), to: &ids)
        }
    }

    /// The BPE ids of one piece's bytes.
    private func appendMerged(_ bytes: [UInt8], to ids: inout [Int32]) {
        guard !bytes.isEmpty else { return }
        if ignoreMerges, let id = idsByBytes[bytes] {
            ids.append(id)
            return
        }
        var symbols: [Int32] = []
        symbols.reserveCapacity(bytes.count)
        var previousUnknown = false
        for byte in bytes {
            if let id = byteIDs[Int(byte)] {
                symbols.append(id)
                previousUnknown = false
            } else if let unknownID {
                if !(fuseUnknown && previousUnknown) { symbols.append(unknownID) }
                previousUnknown = true
            }
            // Without an unknown token the byte is dropped, as the reference library does.
        }
        while symbols.count > 1 {
            var best: (index: Int, rank: Int32, id: Int32)?
            for i in 0..<(symbols.count - 1) {
                let key = UInt64(UInt32(symbols[i])) << 32 | UInt64(UInt32(symbols[i + 1]))
                if let merge = merges[key], merge.rank < (best?.rank ?? .max) {
                    best = (i, merge.rank, merge.id)
                }
            }
            guard let best else { break }
            symbols[best.index] = best.id
            symbols.remove(at: best.index + 1)
        }
        ids.append(contentsOf: symbols)
    }
}

extension TokenizerDefinition.Normalizer {
    /// The normalised text.
    func apply(_ text: String) -> String {
        switch self {
        case .nfc: return text.precomposedStringWithCanonicalMapping
        case .nfd: return text.decomposedStringWithCanonicalMapping
        case .nfkc: return text.precomposedStringWithCompatibilityMapping
        case .nfkd: return text.decomposedStringWithCompatibilityMapping
        case .lowercase:
            // Character by character, without context (no final sigma), as the reference does.
            var view = String.UnicodeScalarView()
            for scalar in text.unicodeScalars { view.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars) }
            return String(view)
        case .bert(let normalizer):
            var view = String.UnicodeScalarView()
            view.append(contentsOf: normalizer.normalize(text))
            return String(view)
        }
    }
}
