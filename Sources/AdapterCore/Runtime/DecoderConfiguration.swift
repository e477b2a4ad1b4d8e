import Foundation

/// The shape of a Llama-style decoder-only language model, as config.json of a Hugging Face
/// `LlamaForCausalLM`, `MistralForCausalLM`, `Qwen2ForCausalLM` or `GemmaForCausalLM` describes it.
///
/// The families share one forward pass (RMSNorm, rotary position embeddings in the rotate-half
/// convention, grouped-query causal attention, gated MLP) and differ only in what this type records:
/// which projections have biases (Qwen2: q, k, v; Llama: all four when `attention_bias`), the MLP
/// activation, Gemma's embedding scale √hidden and RMSNorm weight (1 + w), and tied output embeddings.
/// Anything that would change the computation beyond that (RoPE scaling, partial rotary factors, a
/// sliding window shorter than the sequence) is refused rather than silently ignored.
public struct DecoderConfiguration: Sendable, Hashable {
    /// The Hugging Face `model_type`s this runtime implements.
    public enum Family: String, Sendable, Hashable, CaseIterable {
        case llama, mistral, qwen2, gemma
    }

    /// The gate activation of the MLP, down(act(gate(x)) · up(x)).
    public enum Activation: String, Sendable, Hashable {
        /// x·σ(x) (`silu`, `swish`).
        case silu
        /// The exact GELU x·Φ(x) (`gelu`).
        case gelu
        /// GELU's tanh approximation (`gelu_pytorch_tanh`, `gelu_new`).
        case geluTanh
    }

    public var family: Family
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var keyValueHeadCount: Int
    /// Width of one attention head (`head_dim`, else hidden / heads).
    public var headSize: Int
    public var rmsNormEpsilon: Float
    public var ropeTheta: Double
    /// Longest sequence accepted (`max_position_embeddings`, further bounded by a sliding window).
    public var maxPositions: Int
    /// The output projection is the token embedding matrix (`tie_word_embeddings`).
    public var tiedEmbeddings: Bool
    /// Biases on the query, key and value projections.
    public var queryKeyValueBias: Bool
    /// Bias on the attention output projection.
    public var outputProjectionBias: Bool
    /// Biases on the MLP's gate, up and down projections.
    public var mlpBias: Bool
    public var activation: Activation
    /// Gemma: embeddings are multiplied by √hidden and RMSNorm scales by (1 + w) instead of w.
    public var gemmaScaling: Bool
    public var beginningOfSequenceID: Int32?

    /// Reads config.json of a model directory.
    public init(modelDirectory: URL) throws(ModelRuntimeError) {
        guard let fields = try ModelDirectoryFile.jsonObject(modelDirectory, "config.json", required: true) else {
            throw ModelRuntimeError(.unreadableFile, "the model directory '\(modelDirectory.path)' has no config.json")
        }
        try self.init(fields: fields)
    }

    init(fields json: JSONFields) throws(ModelRuntimeError) {
        guard let type = try json.string("model_type") else {
            throw ModelRuntimeError(.invalidConfiguration, "config.json has no model_type")
        }
        guard let family = Family(rawValue: type) else {
            throw ModelRuntimeError(.unsupportedModel,
                "config.json: model_type '\(type)' is not implemented; the decoder runtime implements "
                    + Family.allCases.map(\.rawValue).joined(separator: ", "))
        }
        self.family = family
        vocabularySize = try json.integer("vocab_size")
        hiddenSize = try json.integer("hidden_size")
        intermediateSize = try json.integer("intermediate_size")
        layerCount = try json.integer("num_hidden_layers")
        headCount = try json.integer("num_attention_heads")
        keyValueHeadCount = try json.integer("num_key_value_heads", default: headCount)
        for (name, value) in [("vocab_size", vocabularySize), ("hidden_size", hiddenSize),
                              ("intermediate_size", intermediateSize), ("num_hidden_layers", layerCount),
                              ("num_attention_heads", headCount), ("num_key_value_heads", keyValueHeadCount)]
        where value < 1 || value > 1 << 24 {
            throw ModelRuntimeError(.invalidConfiguration, "config.json: \(name) is \(value); a positive size below 2^24 was expected")
        }
        guard headCount % keyValueHeadCount == 0 else {
            throw ModelRuntimeError(.invalidConfiguration,
                "config.json: num_attention_heads \(headCount) is not a multiple of num_key_value_heads \(keyValueHeadCount)")
        }
        headSize = try Self.headSize(json, hiddenSize: hiddenSize, headCount: headCount)
        let epsilon = try json.number("rms_norm_eps", default: 1e-6)
        guard epsilon >= 0 else {
            throw ModelRuntimeError(.invalidConfiguration, "config.json: rms_norm_eps is \(epsilon)")
        }
        rmsNormEpsilon = Float(epsilon)
        ropeTheta = try Self.ropeTheta(json)
        maxPositions = try Self.maxPositions(json, family: family)
        activation = try Self.activation(json, family: family)
        (queryKeyValueBias, outputProjectionBias) = try Self.attentionBiases(json, family: family)
        mlpBias = family == .llama ? try json.bool("mlp_bias", default: false) : false
        tiedEmbeddings = try json.bool("tie_word_embeddings", default: family == .gemma)
        gemmaScaling = family == .gemma
        // Informational only (tokenizers decide the ids they emit), so an unusual value is not an error.
        beginningOfSequenceID = json["bos_token_id"]?.integer.flatMap { Int32(exactly: $0) }
    }

    /// `head_dim`, else hidden / heads; even, for rotary embeddings.
    private static func headSize(_ json: JSONFields, hiddenSize: Int, headCount: Int) throws(ModelRuntimeError) -> Int {
        let headSize: Int
        if let size = try json.optionalInteger("head_dim") {
            headSize = size
        } else {
            guard hiddenSize % headCount == 0 else {
                throw ModelRuntimeError(.invalidConfiguration,
                    "config.json: hidden_size \(hiddenSize) is not divisible by num_attention_heads \(headCount) and there is no head_dim")
            }
            headSize = hiddenSize / headCount
        }
        guard headSize >= 2, headSize % 2 == 0, headSize <= 1 << 16 else {
            throw ModelRuntimeError(.invalidConfiguration, "config.json: the head size is \(headSize); rotary embeddings need a positive even size")
        }
        return headSize
    }

    /// The rotary base; any RoPE variant other than plain RoPE over the whole head is refused.
    /// transformers 5 writes rope_parameters {rope_theta, rope_type}; earlier versions rope_theta and
    /// rope_scaling at the top level.
    private static func ropeTheta(_ json: JSONFields) throws(ModelRuntimeError) -> Double {
        var theta = try json.optionalNumber("rope_theta")
        var ropeType: String?
        var partialFactor = try json.optionalNumber("partial_rotary_factor")
        for key in ["rope_parameters", "rope_scaling"] {
            guard let rope = try json.object(key) else { continue }
            if let value = try rope.optionalNumber("rope_theta") { theta = value }
            if let value = try rope.string("rope_type") { ropeType = value }
            if let value = try rope.string("type") { ropeType = value }
            if let value = try rope.optionalNumber("partial_rotary_factor") { partialFactor = value }
        }
        if let ropeType, ropeType != "default" {
            throw ModelRuntimeError(.invalidConfiguration,
                "config.json: rope_type '\(ropeType)' (RoPE scaling) is not implemented; only plain RoPE ('default') is")
        }
        if let partialFactor, partialFactor != 1 {
            throw ModelRuntimeError(.invalidConfiguration,
                "config.json: partial_rotary_factor \(partialFactor) is not implemented; rotary embeddings over the whole head are")
        }
        let ropeTheta = theta ?? 10_000
        guard ropeTheta > 1 else {
            throw ModelRuntimeError(.invalidConfiguration, "config.json: rope_theta is \(ropeTheta); a base above 1 was expected")
        }
        return ropeTheta
    }

    /// `max_position_embeddings`, bounded by a sliding window where the family uses one: a window
    /// only matters beyond its length, so sequences are bounded by it instead of implementing the
    /// windowed mask.
    private static func maxPositions(_ json: JSONFields, family: Family) throws(ModelRuntimeError) -> Int {
        var positions = try json.integer("max_position_embeddings", default: 2048)
        guard positions >= 1 else {
            throw ModelRuntimeError(.invalidConfiguration, "config.json: max_position_embeddings is \(positions)")
        }
        let windowed = switch family {
        case .mistral: true
        case .qwen2: try json.bool("use_sliding_window", default: false)
        case .llama, .gemma: false
        }
        if windowed, let window = try json.optionalInteger("sliding_window") {
            guard window >= 1 else {
                throw ModelRuntimeError(.invalidConfiguration, "config.json: sliding_window is \(window)")
            }
            positions = min(positions, window)
        }
        return positions
    }

    /// The MLP's gate activation (and, for Gemma, a refusal of bidirectional attention).
    private static func activation(_ json: JSONFields, family: Family) throws(ModelRuntimeError) -> Activation {
        let activationName: String
        switch family {
        case .gemma:
            // transformers 4 read hidden_activation (Gemma checkpoints also carry hidden_act "gelu"
            // for the same tanh GELU); transformers 5 reads hidden_act.
            let preferred = try json.string("hidden_activation")
            let generic = try json.string("hidden_act")
            activationName = preferred ?? generic ?? "gelu_pytorch_tanh"
            if try json.bool("use_bidirectional_attention", default: false) {
                throw ModelRuntimeError(.invalidConfiguration,
                    "config.json: use_bidirectional_attention is not implemented; the decoder runtime's attention is causal")
            }
        case .llama, .mistral, .qwen2:
            activationName = try json.string("hidden_act") ?? "silu"
        }
        switch activationName {
        case "silu", "swish": return .silu
        case "gelu": return .gelu
        case "gelu_pytorch_tanh", "gelu_new": return .geluTanh
        default:
            throw ModelRuntimeError(.invalidConfiguration,
                "config.json: the MLP activation '\(activationName)' is not implemented (silu, gelu, gelu_pytorch_tanh are)")
        }
    }

    /// Which attention projections have biases: (q, k, v; o).
    private static func attentionBiases(_ json: JSONFields, family: Family) throws(ModelRuntimeError) -> (Bool, Bool) {
        switch family {
        case .llama, .gemma:
            let bias = try json.bool("attention_bias", default: false)
            return (bias, bias)
        case .mistral: return (false, false)
        case .qwen2: return (true, false)
        }
    }

    /// Width of the key and value projections (kv heads × head size).
    public var keyValueWidth: Int { keyValueHeadCount * headSize }
    /// Width of the query projection and the attention context (heads × head size).
    public var attentionWidth: Int { headCount * headSize }
}
