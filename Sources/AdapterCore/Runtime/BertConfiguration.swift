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
                maxPositions: Int, tokenTypeCount: Int = 2, layerNormEpsilon: Float = 1e-12) throws(ModelRuntimeError) {
        for (name, value) in [("vocab_size", vocabularySize), ("hidden_size", hiddenSize), ("num_hidden_layers", layerCount),
                              ("num_attention_heads", headCount), ("intermediate_size", intermediateSize),
                              ("max_position_embeddings", maxPositions), ("type_vocab_size", tokenTypeCount)]
        where value < 1 || value > 1 << 24 {
            throw ModelRuntimeError(.invalidConfiguration, "\(name) is \(value); a positive size below 2^24 was expected")
        }
        guard hiddenSize % headCount == 0 else {
            throw ModelRuntimeError(.invalidConfiguration, "hidden_size \(hiddenSize) is not divisible by num_attention_heads \(headCount)")
        }
        guard layerNormEpsilon.isFinite, layerNormEpsilon >= 0 else {
            throw ModelRuntimeError(.invalidConfiguration, "layer_norm_eps is \(layerNormEpsilon)")
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
    public init(modelDirectory: URL) throws(ModelRuntimeError) {
        guard let fields = try ModelDirectoryFile.jsonObject(modelDirectory, "config.json", required: true) else {
            throw ModelRuntimeError(.unreadableFile, "the model directory '\(modelDirectory.path)' has no config.json")
        }
        try self.init(fields: fields)
    }

    /// Reads the members of a parsed config.json.
    init(fields json: JSONFields) throws(ModelRuntimeError) {
        if let type = try json.string("model_type"), type != "bert" {
            throw ModelRuntimeError(.invalidConfiguration, "config.json: model_type is '\(type)'; this encoder implements BERT only")
        }
        if let activation = try json.string("hidden_act"), activation != "gelu" {
            throw ModelRuntimeError(.invalidConfiguration, "config.json: hidden_act is '\(activation)'; this encoder implements 'gelu' (erf form) only")
        }
        if let positions = try json.string("position_embedding_type"), positions != "absolute" {
            throw ModelRuntimeError(.invalidConfiguration, "config.json: position_embedding_type is '\(positions)'; this encoder implements 'absolute' only")
        }
        try self.init(
            vocabularySize: json.integer("vocab_size"), hiddenSize: json.integer("hidden_size"),
            layerCount: json.integer("num_hidden_layers"), headCount: json.integer("num_attention_heads"),
            intermediateSize: json.integer("intermediate_size"), maxPositions: json.integer("max_position_embeddings", default: 512),
            tokenTypeCount: json.integer("type_vocab_size", default: 2),
            layerNormEpsilon: Float(json.number("layer_norm_eps", default: 1e-12)))
    }

    public var headSize: Int { hiddenSize / headCount }
}
