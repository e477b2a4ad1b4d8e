import Foundation

/// The shape of a BERT encoder, as config.json of a Hugging Face `BertModel` describes it.
public struct BertConfiguration: Sendable, Hashable {
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var intermediateSize: Int
    public var maxPositions: Int
    public var tokenTypeCount: Int
    public var layerNormEpsilon: Float

    public init(vocabularySize: Int, hiddenSize: Int, layerCount: Int, headCount: Int, intermediateSize: Int,
                maxPositions: Int, tokenTypeCount: Int = 2, layerNormEpsilon: Float = 1e-12) throws(EmbeddingError) {
        for (name, value) in [("vocab_size", vocabularySize), ("hidden_size", hiddenSize), ("num_hidden_layers", layerCount),
                              ("num_attention_heads", headCount), ("intermediate_size", intermediateSize),
                              ("max_position_embeddings", maxPositions), ("type_vocab_size", tokenTypeCount)]
        where value < 1 || value > 1 << 24 {
            throw EmbeddingError(.invalidConfiguration, "\(name) is \(value); a positive size below 2^24 was expected")
        }
        guard hiddenSize % headCount == 0 else {
            throw EmbeddingError(.invalidConfiguration, "hidden_size \(hiddenSize) is not divisible by num_attention_heads \(headCount)")
        }
        guard layerNormEpsilon.isFinite, layerNormEpsilon >= 0 else {
            throw EmbeddingError(.invalidConfiguration, "layer_norm_eps is \(layerNormEpsilon)")
        }
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.intermediateSize = intermediateSize
        self.maxPositions = maxPositions
        self.tokenTypeCount = tokenTypeCount
        self.layerNormEpsilon = layerNormEpsilon
    }

    /// Reads config.json of a model directory. Only BERT with absolute position embeddings and the exact
    /// (erf) GELU is accepted; anything else would silently compute different embeddings.
    public init(modelDirectory: URL) throws(EmbeddingError) {
        guard let json = try ModelDirectoryFile.jsonObject(modelDirectory, "config.json", required: true) else {
            throw EmbeddingError(.unreadableFile, "the model directory '\(modelDirectory.path)' has no config.json")
        }
        func integer(_ key: String, default value: Int? = nil) throws(EmbeddingError) -> Int {
            if let n = json[key] as? Int { return n }
            if json[key] == nil, let value { return value }
            throw EmbeddingError(.invalidConfiguration, "config.json: '\(key)' is \(json[key].map { "\($0)" } ?? "missing"); an integer was expected")
        }
        if let type = json["model_type"] as? String, type != "bert" {
            throw EmbeddingError(.invalidConfiguration, "config.json: model_type is '\(type)'; this encoder implements BERT only")
        }
        if let activation = json["hidden_act"] as? String, activation != "gelu" {
            throw EmbeddingError(.invalidConfiguration, "config.json: hidden_act is '\(activation)'; this encoder implements 'gelu' (erf form) only")
        }
        if let positions = json["position_embedding_type"] as? String, positions != "absolute" {
            throw EmbeddingError(.invalidConfiguration, "config.json: position_embedding_type is '\(positions)'; this encoder implements 'absolute' only")
        }
        var epsilon: Float = 1e-12
        if let value = json["layer_norm_eps"] {
            guard let number = value as? Double else {
                throw EmbeddingError(.invalidConfiguration, "config.json: layer_norm_eps is \(value); a number was expected")
            }
            epsilon = Float(number)
        }
        try self.init(
            vocabularySize: integer("vocab_size"), hiddenSize: integer("hidden_size"),
            layerCount: integer("num_hidden_layers"), headCount: integer("num_attention_heads"),
            intermediateSize: integer("intermediate_size"), maxPositions: integer("max_position_embeddings", default: 512),
            tokenTypeCount: integer("type_vocab_size", default: 2), layerNormEpsilon: epsilon)
    }

    public var headSize: Int { hiddenSize / headCount }
}
