/// Why a sentence embedder (tokenizer, BERT encoder, model directory) could not be built or run.
public struct EmbeddingError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        /// The model directory or one of its files does not exist or cannot be read.
        case unreadableFile
        /// vocab.txt is empty, not UTF-8, or lacks a required special token.
        case invalidVocabulary
        /// config.json (or a tokenizer/sentence-transformers config) is malformed or describes a model
        /// this encoder does not implement.
        case invalidConfiguration
        /// model.safetensors is malformed, lacks a tensor, or a tensor has the wrong shape or dtype.
        case invalidWeights
        /// Bad arguments (e.g. a batch size below 1, a token id outside the vocabulary).
        case invalidArgument
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
