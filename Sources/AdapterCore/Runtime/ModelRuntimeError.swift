/// Why the base-model runtime (configuration, weights, tokenizer, adapter, forward pass) or a model
/// built on it (the MiniLM sentence embedder) could not be built or run.
public typealias ModelRuntimeError = CodedError<ModelRuntimeErrorCode>

/// The kinds of `ModelRuntimeError`.
public enum ModelRuntimeErrorCode: String, ErrorCode {
    /// The model directory or one of its files does not exist or cannot be read.
    case unreadableFile
    /// A vocabulary or tokenizer file (vocab.txt, tokenizer.json, tokenizer_words.json) is
    /// malformed, or lacks a required special token.
    case invalidVocabulary
    /// config.json (or a tokenizer/sentence-transformers config) is malformed, or describes a
    /// variant of its family this runtime does not implement (another activation, RoPE scaling, …).
    case invalidConfiguration
    /// config.json names a model family this runtime does not implement.
    case unsupportedModel
    /// The tokenizer is of a kind (model, normalizer, pre-tokenizer, post-processor) this runtime
    /// does not implement.
    case unsupportedTokenizer
    /// The weights are malformed, lack a tensor, or a tensor has the wrong shape or dtype.
    case invalidWeights
    /// A LoRA adapter does not fit the model: a module that is not one of its linear maps, a
    /// fused or embedding module, or factors whose shapes differ from the linear's.
    case invalidAdapter
    /// Bad arguments (e.g. a batch size below 1, a token id outside the vocabulary).
    case invalidArgument
}
