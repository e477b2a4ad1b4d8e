import COpenBLAS
import Foundation

/// A Llama-style decoder-only language model (Llama, Mistral, Qwen2, Gemma; see
/// `DecoderConfiguration`) in single precision (the layers' linear maps optionally in bfloat16,
/// `RuntimePrecision`), as Hugging Face's `…ForCausalLM` computes it without a KV cache: token
/// embeddings (× √hidden for Gemma), then per layer
/// x += o(attention(RoPE(q(n₁(x))), RoPE(k(n₁(x))), v(n₁(x)))) and x += down(act(gate(n₂(x))) · up(n₂(x)))
/// with RMSNorms n₁, n₂ and causal grouped-query attention, then the final RMSNorm and the output
/// projection (tied to the embeddings or `lm_head`) — optionally with a LoRA adapter applied in
/// factored form to any of its linear maps.
///
/// A batch is packed without padding: each sequence starts at position 0 and attends only to its own
/// earlier tokens; the dense layers run on all tokens at once (one sgemm per linear map).
///
/// Adaptable linear maps, by the names PEFT gives them on a `…ForCausalLM` (without the leading
/// `model.`, as on the bare model, is accepted too): `model.layers.<i>.self_attn.q_proj|k_proj|v_proj|o_proj`,
/// `model.layers.<i>.mlp.gate_proj|up_proj|down_proj`.
public struct DecoderModel: Sendable {
    public let configuration: DecoderConfiguration
    /// What the layers' linear maps multiply in.
    public let precision: RuntimePrecision

    /// Which rows of logits a forward pass computes.
    public enum LogitRows: Sendable, Hashable {
        /// None (hidden states only).
        case none
        /// Every token's next-token logits.
        case all
        /// Only the last token's of each sequence.
        case last
        /// The last `count` tokens' of each sequence (all of a shorter one): what scoring an answer at
        /// the end of a prompt reads, without projecting the prompt's rows onto the vocabulary.
        case lastRows(Int)
    }

    /// What a forward pass gives for one sequence.
    public struct Output: Sendable {
        /// The final hidden states (after the last RMSNorm), tokens × hidden, row-major.
        public let hiddenStates: [Float]
        /// Next-token logits, rows × vocabulary, row-major: one row per token (`.all`), one for the
        /// last token (`.last`), one for each of the last tokens (`.lastRows`), or none.
        public let logits: [Float]
    }

    struct Layer: Sendable {
        var inputNorm: [Float]
        var query, key, value, attentionOutput: AdaptableLinear
        var postAttentionNorm: [Float]
        var gate, up, down: AdaptableLinear
    }

    private let embeddings: [Float]
    private let layers: [Layer]
    private let finalNorm: [Float]
    /// The output projection (vocabulary × hidden); nil when tied to `embeddings`.
    private let outputProjection: [Float]?
    private let rotary: RotaryEmbedding
    private let linearShapes: [String: AdapterBinding.Shape]

    /// Loads config.json and the weights (model.safetensors or shards) of a model directory.
    public init(modelDirectory: URL, precision: RuntimePrecision = .float32) throws(ModelRuntimeError) {
        try self.init(configuration: DecoderConfiguration(modelDirectory: modelDirectory),
                      weights: BaseModelWeights(modelDirectory: modelDirectory), precision: precision)
    }

    /// Loads the weights (tensor names of a `…ForCausalLM`, or of the bare model without `model.`;
    /// F32, F16 or BF16) and checks every shape against `configuration`; the layers' linear maps multiply
    /// in `precision` (the output projection in single precision).
    public init(configuration c: DecoderConfiguration, weights: BaseModelWeights,
                precision: RuntimePrecision = .float32) throws(ModelRuntimeError) {
        let prefix = weights.prefix(of: "embed_tokens.weight", among: ["model.", ""]) ?? "model."
        let h = c.hiddenSize
        func load(_ name: String, _ shape: [Int]) throws(ModelRuntimeError) -> [Float] {
            try weights.floats(prefix + name, shape: shape)
        }
        func linear(_ name: String, _ inputs: Int, _ outputs: Int, bias: Bool) throws(ModelRuntimeError) -> AdaptableLinear {
            // Named as PEFT names them on a …ForCausalLM; read under the file's own prefix.
            try AdaptableLinear(weights, name: "model." + name, tensor: prefix + name, inputs: inputs,
                                outputs: outputs, bias: bias, precision: precision)
        }
        configuration = c
        self.precision = precision
        embeddings = try load("embed_tokens.weight", [c.vocabularySize, h])
        var layers: [Layer] = []
        var linears: [String: AdaptableLinear] = [:]
        for i in 0..<c.layerCount {
            let p = "layers.\(i)."
            let layer = Layer(
                inputNorm: try load(p + "input_layernorm.weight", [h]),
                query: try linear(p + "self_attn.q_proj", h, c.attentionWidth, bias: c.queryKeyValueBias),
                key: try linear(p + "self_attn.k_proj", h, c.keyValueWidth, bias: c.queryKeyValueBias),
                value: try linear(p + "self_attn.v_proj", h, c.keyValueWidth, bias: c.queryKeyValueBias),
                attentionOutput: try linear(p + "self_attn.o_proj", c.attentionWidth, h, bias: c.outputProjectionBias),
                postAttentionNorm: try load(p + "post_attention_layernorm.weight", [h]),
                gate: try linear(p + "mlp.gate_proj", h, c.intermediateSize, bias: c.mlpBias),
                up: try linear(p + "mlp.up_proj", h, c.intermediateSize, bias: c.mlpBias),
                down: try linear(p + "mlp.down_proj", c.intermediateSize, h, bias: c.mlpBias))
            for l in [layer.query, layer.key, layer.value, layer.attentionOutput, layer.gate, layer.up, layer.down] {
                linears[l.name] = l
            }
            layers.append(layer)
        }
        self.layers = layers
        linearShapes = linears.mapValues(\.shape)
        finalNorm = try load("norm.weight", [h])
        if c.tiedEmbeddings {
            outputProjection = nil
        } else {
            guard weights.contains("lm_head.weight") else {
                throw ModelRuntimeError(.invalidWeights,
                    "'\(weights.source)' has no tensor 'lm_head.weight' and config.json does not tie the output to the embeddings")
            }
            outputProjection = try weights.floats("lm_head.weight", shape: [c.vocabularySize, h])
        }
        rotary = RotaryEmbedding(headSize: c.headSize, base: c.ropeTheta)
    }

    /// The names of the linear maps an adapter may adapt, sorted.
    public var adaptableLinearNames: [String] { linearShapes.keys.sorted() }

    /// One forward pass over each sequence (packed into one batch), with `adapter` (if any) applied to
    /// its linear maps and their inputs shown to `observer` (if any): the final hidden states and the
    /// logits `logitRows` asks for.
    public func forward(_ sequences: [[Int32]], adapter: FactoredLoRA? = nil,
                        logits logitRows: LogitRows = .all,
                        observer: (any LinearInputObserver)? = nil) throws(ModelRuntimeError) -> [Output] {
        let c = configuration
        let batch = try PackedBatch(sequences, vocabularySize: c.vocabularySize, maxLength: c.maxPositions)
        let binding = try bind(adapter)
        let tokens = batch.tokenCount
        guard tokens > 0 else { return [] }

        let h = c.hiddenSize
        let qWidth = c.attentionWidth
        let kvWidth = c.keyValueWidth
        let inner = c.intermediateSize
        let x = UnsafeMutablePointer<Float>.allocate(capacity: tokens * h)
        let normed = UnsafeMutablePointer<Float>.allocate(capacity: tokens * h)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: tokens * h)
        let q = UnsafeMutablePointer<Float>.allocate(capacity: tokens * qWidth)
        let k = UnsafeMutablePointer<Float>.allocate(capacity: tokens * kvWidth)
        let v = UnsafeMutablePointer<Float>.allocate(capacity: tokens * kvWidth)
        let context = UnsafeMutablePointer<Float>.allocate(capacity: tokens * qWidth)
        let gate = UnsafeMutablePointer<Float>.allocate(capacity: tokens * inner)
        let up = UnsafeMutablePointer<Float>.allocate(capacity: tokens * inner)
        defer {
            for buffer in [x, normed, scratch, q, k, v, context, gate, up] { buffer.deallocate() }
        }

        // Token embeddings (Gemma: times √hidden, rounded to single precision as transformers does).
        let embeddingScale: Float = c.gemmaScaling ? Float(Double(h).squareRoot()) : 1
        embeddings.withUnsafeBufferPointer { table in
            for (s, sequence) in sequences.enumerated() {
                for (t, id) in sequence.enumerated() {
                    let row = x + (batch.offsets[s] + t) * h
                    let source = table.baseAddress! + Int(id) * h
                    for i in 0..<h { row[i] = source[i] * embeddingScale }
                }
            }
        }

        let normOffset: Float = c.gemmaScaling ? 1 : 0
        let epsilon = c.rmsNormEpsilon
        let angles = rotary.table(positions: batch.longest)
        let attention = Attention(heads: c.headCount, keyValueHeads: c.keyValueHeadCount,
                                  headSize: c.headSize, causal: true)
        for layer in layers {
            FloatKernels.rmsNorm(x, rows: tokens, width: h, weight: layer.inputNorm, offset: normOffset,
                                 epsilon: epsilon, into: normed)
            layer.query.apply(normed, rows: tokens, into: q, adapter: binding, observer: observer)
            layer.key.apply(normed, rows: tokens, into: k, adapter: binding, observer: observer)
            layer.value.apply(normed, rows: tokens, into: v, adapter: binding, observer: observer)
            rotary.apply(q, stride: qWidth, heads: c.headCount, batch: batch, table: angles)
            rotary.apply(k, stride: kvWidth, heads: c.keyValueHeadCount, batch: batch, table: angles)
            attention.context(query: q, queryStride: qWidth, key: k, keyStride: kvWidth, value: v,
                              valueStride: kvWidth, batch: batch, into: context, contextStride: qWidth)
            layer.attentionOutput.apply(context, rows: tokens, into: scratch, adapter: binding, observer: observer)
            FloatKernels.add(x, scratch, count: tokens * h)

            FloatKernels.rmsNorm(x, rows: tokens, width: h, weight: layer.postAttentionNorm, offset: normOffset,
                                 epsilon: epsilon, into: normed)
            layer.gate.apply(normed, rows: tokens, into: gate, adapter: binding, observer: observer)
            layer.up.apply(normed, rows: tokens, into: up, adapter: binding, observer: observer)
            FloatKernels.gatedActivation(c.activation, gate: gate, up: up, count: tokens * inner)
            layer.down.apply(gate, rows: tokens, into: scratch, adapter: binding, observer: observer)
            FloatKernels.add(x, scratch, count: tokens * h)
        }
        FloatKernels.rmsNorm(x, rows: tokens, width: h, weight: finalNorm, offset: normOffset,
                             epsilon: epsilon, into: normed)

        var outputs: [Output] = []
        outputs.reserveCapacity(batch.count)
        for s in 0..<batch.count {
            let first = batch.offsets[s]
            let n = batch.lengths[s]
            let hidden = Array(UnsafeBufferPointer(start: normed + first * h, count: n * h))
            let logits: [Float]
            switch logitRows {
            case .none: logits = []
            case .all: logits = project(normed + first * h, rows: n)
            case .last: logits = project(normed + (first + n - 1) * h, rows: 1)
            case .lastRows(let count):
                let rows = min(max(0, count), n)
                logits = project(normed + (first + n - rows) * h, rows: rows)
            }
            outputs.append(Output(hiddenStates: hidden, logits: logits))
        }
        return outputs
    }

    /// rows × vocabulary logits of hidden rows (rows × hidden): h · Eᵀ with the output projection E.
    private func project(_ hidden: UnsafePointer<Float>, rows: Int) -> [Float] {
        let vocabulary = configuration.vocabularySize
        let h = configuration.hiddenSize
        return [Float](unsafeUninitializedCapacity: rows * vocabulary) { out, initialized in
            (outputProjection ?? embeddings).withUnsafeBufferPointer { e in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(vocabulary), Int32(h),
                            1, hidden, Int32(h), e.baseAddress, Int32(h), 0, out.baseAddress, Int32(vocabulary))
            }
            initialized = rows * vocabulary
        }
    }

    /// `adapter`'s modules bound to this model's linear maps (`layers.…` gets the `model.` prefix).
    func bind(_ adapter: FactoredLoRA?) throws(ModelRuntimeError) -> AdapterBinding {
        try AdapterBinding(adapter, linears: linearShapes, example: "model.layers.0.self_attn.q_proj",
                           canonicalName: Self.canonicalLinearName)
    }

    /// The name this model gives the linear map an adapter module path names (`layers.…` gets the
    /// `model.` prefix).
    public static func canonicalLinearName(_ name: String) -> String {
        name.hasPrefix("layers.") ? "model." + name : name
    }
}
