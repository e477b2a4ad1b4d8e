/// Turns text into the token ids a base model reads. Implementations: `WordPieceTokenizer` (BERT),
/// `BPETokenizer` (byte-level BPE: GPT-2, Llama-3, Qwen2 …), `WordLevelTokenizer` (the corpus's
/// llama-tiny); `TokenizerLoader` picks one from a model directory.
public protocol Tokenizer: Sendable {
    /// Number of ids the tokenizer can produce (its vocabulary and added tokens).
    var vocabularySize: Int { get }

    /// The ids of a text. With `addingSpecialTokens`, the special tokens the tokenizer's own
    /// post-processing puts around a single sequence (BERT's `[CLS] … [SEP]`, a template's `<s>`) are
    /// included and its truncation, if any, applies; without, only the text's own tokens, untruncated
    /// (so pieces can be composed into prompts; `tokenizers` would still truncate them). Never
    /// fails: text the vocabulary cannot express becomes the unknown token (or, as in the reference
    /// libraries, is dropped when there is none).
    func encode(_ text: String, addingSpecialTokens: Bool) -> [Int32]
}

extension Tokenizer {
    /// The model input for one text, special tokens included.
    public func encode(_ text: String) -> [Int32] {
        encode(text, addingSpecialTokens: true)
    }
}
