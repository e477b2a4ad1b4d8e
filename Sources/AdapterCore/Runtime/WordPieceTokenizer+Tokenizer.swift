import Foundation

extension WordPieceTokenizer: Tokenizer {
    /// With special tokens: `[CLS] pieces… [SEP]` truncated to `options.maxLength`; without: the
    /// word pieces alone, untruncated.
    public func encode(_ text: String, addingSpecialTokens: Bool) -> [Int32] {
        addingSpecialTokens ? encode(text) : pieceIDs(text)
    }

    /// Reads a tokenizer.json whose model is WordPiece with BERT's pipeline (BertNormalizer,
    /// BertPreTokenizer, `[CLS] $A [SEP]`); the maximum length is the file's truncation, else unbounded.
    public init(tokenizerFile url: URL) throws(ModelRuntimeError) {
        try self.init(definition: TokenizerDefinition(file: url))
    }

    init(definition: TokenizerDefinition) throws(ModelRuntimeError) {
        let source = definition.source
        let model = definition.model
        guard definition.modelType == "WordPiece" else {
            throw ModelRuntimeError(.invalidVocabulary, "\(source): the model is \(definition.modelType), not WordPiece")
        }
        guard definition.normalizers.count == 1, case .bert(let normalizer) = definition.normalizers[0],
              definition.preTokenizers.count == 1, case .bert = definition.preTokenizers[0] else {
            throw ModelRuntimeError(.unsupportedTokenizer,
                "\(source): WordPiece is implemented with BERT's pipeline only (one BertNormalizer, one BertPreTokenizer)")
        }
        guard let unknown = try model.string("unk_token"), unknown == "[UNK]" else {
            throw ModelRuntimeError(.unsupportedTokenizer, "\(source): WordPiece is implemented with the unknown token [UNK] only")
        }
        guard let vocab = try model.object("vocab") else { throw model.error("vocab", "an object of token ids") }
        var tokens = [String?](repeating: nil, count: vocab.members.count)
        for member in vocab.members {
            guard let n = member.value.integer, n >= 0, n < tokens.count, tokens[n] == nil else {
                throw ModelRuntimeError(.invalidVocabulary,
                    "\(source): the WordPiece vocabulary's ids are not 0..<\(tokens.count), each once ('\(member.key)' has \(member.value))")
            }
            tokens[n] = member.key
        }
        var maxLength = Int(Int32.max)
        if let truncation = definition.truncation {
            guard !truncation.keepsEnd else {
                throw ModelRuntimeError(.unsupportedTokenizer, "\(source): truncation from the left is not implemented for WordPiece")
            }
            maxLength = truncation.maxLength
        }
        let maxCharacters = try model.integer("max_input_chars_per_word", default: 100)
        try self.init(vocabulary: tokens.map { $0! }, options: Options(
            normalizer: normalizer, maxLength: maxLength, maxCharactersPerWord: maxCharacters,
            continuationPrefix: try model.string("continuing_subword_prefix") ?? "##"))
        guard definition.specialPrefix == [classifierID], definition.specialSuffix == [separatorID] else {
            throw ModelRuntimeError(.unsupportedTokenizer,
                "\(source): the post-processor adds \(definition.specialPrefix) before and \(definition.specialSuffix) after; WordPiece is implemented with [CLS] … [SEP]")
        }
        let builtIn = Set(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
        for token in definition.addedTokens {
            var view = String.UnicodeScalarView()
            view.append(contentsOf: token.content)
            let content = String(view)
            guard builtIn.contains(content), Int(token.id) < vocabulary.count, vocabulary[Int(token.id)] == content,
                  !token.stripLeft, !token.stripRight else {
                throw ModelRuntimeError(.unsupportedTokenizer,
                    "\(source): the added token '\(content)' (id \(token.id)) is not one of BERT's special tokens; other added tokens are not implemented for WordPiece")
            }
        }
    }
}
