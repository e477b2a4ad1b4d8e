import Foundation

/// A BERT encoder in single precision (its linear maps' products optionally in bfloat16,
/// `RuntimePrecision`): word + position + token-type embeddings with LayerNorm, then post-LayerNorm
/// transformer layers (multi-head self-attention, exact-GELU feed-forward), as Hugging Face's
/// `BertModel` computes its last hidden state — optionally with a LoRA adapter applied in factored form
/// to any of its linear maps.
///
/// A batch is packed without padding: the dense layers run on all tokens of all sequences at once
/// (one sgemm per linear map), and each token attends only to the tokens of its own sequence — the
/// same result a padded batch with BERT's attention mask gives, without computing the padding.
///
/// Adaptable linear maps, by the names PEFT gives them on a `BertModel` (a `bert.` prefix, as on
/// `BertForSequenceClassification`, is accepted too): `encoder.layer.<i>.attention.self.query|key|value`,
/// `encoder.layer.<i>.attention.output.dense`, `encoder.layer.<i>.intermediate.dense`,
/// `encoder.layer.<i>.output.dense`.
public struct BertModel: Sendable {
    public let configuration: BertConfiguration
    /// What the linear maps multiply in.
    public let precision: RuntimePrecision

    struct Layer: Sendable {
        /// Query, key and value, applied as one product (their outputs side by side, 3 × hidden).
        var queryKeyValue: AdaptableLinearGroup
        var attentionOutput: AdaptableLinear
        var attentionNormGamma: [Float], attentionNormBeta: [Float]
        var intermediate, output: AdaptableLinear
        var outputNormGamma: [Float], outputNormBeta: [Float]
    }

    let wordEmbeddings: [Float]
    let positionEmbeddings: [Float]
    let tokenTypeEmbeddings: [Float]
    let embeddingNormGamma: [Float]
    let embeddingNormBeta: [Float]
    let layers: [Layer]
    private let linearShapes: [String: AdapterBinding.Shape]

    /// Loads config.json and the weights (model.safetensors or shards) of a Hugging Face BERT model directory.
    public init(modelDirectory: URL, precision: RuntimePrecision = .float32) throws(ModelRuntimeError) {
        try self.init(configuration: BertConfiguration(modelDirectory: modelDirectory),
                      weights: BaseModelWeights(modelDirectory: modelDirectory), precision: precision)
    }

    /// Loads the weights of a `BertModel` from one safetensors file.
    public init(configuration: BertConfiguration, weightsFile: URL, precision: RuntimePrecision = .float32) throws(ModelRuntimeError) {
        try self.init(configuration: configuration, weights: BaseModelWeights(file: weightsFile), precision: precision)
    }

    /// Loads the weights of a `BertModel` (tensor names with or without a `bert.` prefix; F32, F16 or
    /// BF16) and checks every shape against `configuration`; the linear maps multiply in `precision`.
    public init(configuration: BertConfiguration, weights: BaseModelWeights,
                precision: RuntimePrecision = .float32) throws(ModelRuntimeError) {
        let prefix = weights.prefix(of: "embeddings.word_embeddings.weight", among: ["", "bert."]) ?? ""
        let h = configuration.hiddenSize
        let inner = configuration.intermediateSize
        func load(_ name: String, _ shape: [Int]) throws(ModelRuntimeError) -> [Float] {
            try weights.floats(prefix + name, shape: shape)
        }
        func linear(_ name: String, _ inputs: Int, _ outputs: Int,
                    _ precision: RuntimePrecision) throws(ModelRuntimeError) -> AdaptableLinear {
            try AdaptableLinear(weights, name: name, tensor: prefix + name, inputs: inputs, outputs: outputs, bias: true,
                                precision: precision)
        }
        self.configuration = configuration
        self.precision = precision
        wordEmbeddings = try load("embeddings.word_embeddings.weight", [configuration.vocabularySize, h])
        positionEmbeddings = try load("embeddings.position_embeddings.weight", [configuration.maxPositions, h])
        tokenTypeEmbeddings = try load("embeddings.token_type_embeddings.weight", [configuration.tokenTypeCount, h])
        embeddingNormGamma = try load("embeddings.LayerNorm.weight", [h])
        embeddingNormBeta = try load("embeddings.LayerNorm.bias", [h])
        var layers: [Layer] = []
        var shapes: [String: AdapterBinding.Shape] = [:]
        for i in 0..<configuration.layerCount {
            let p = "encoder.layer.\(i)."
            // Loaded in single precision: the group takes their weights over in `precision`.
            let attentionInputs = [try linear(p + "attention.self.query", h, h, .float32),
                                   try linear(p + "attention.self.key", h, h, .float32),
                                   try linear(p + "attention.self.value", h, h, .float32)]
            let layer = Layer(
                queryKeyValue: AdaptableLinearGroup(attentionInputs, precision: precision),
                attentionOutput: try linear(p + "attention.output.dense", h, h, precision),
                attentionNormGamma: try load(p + "attention.output.LayerNorm.weight", [h]),
                attentionNormBeta: try load(p + "attention.output.LayerNorm.bias", [h]),
                intermediate: try linear(p + "intermediate.dense", h, inner, precision),
                output: try linear(p + "output.dense", inner, h, precision),
                outputNormGamma: try load(p + "output.LayerNorm.weight", [h]),
                outputNormBeta: try load(p + "output.LayerNorm.bias", [h]))
            for l in attentionInputs + [layer.attentionOutput, layer.intermediate, layer.output] {
                shapes[l.name] = l.shape
            }
            layers.append(layer)
        }
        self.layers = layers
        linearShapes = shapes
    }

    /// The names of the linear maps an adapter may adapt, sorted.
    public var adaptableLinearNames: [String] { linearShapes.keys.sorted() }

    /// The last hidden state of each sequence, `sequence.count × hiddenSize` values row-major, with
    /// `adapter` (if any) applied to its linear maps and their inputs shown to `observer` (if any).
    public func hiddenStates(_ sequences: [[Int32]], adapter: FactoredLoRA? = nil,
                             observer: (any LinearInputObserver)? = nil) throws(ModelRuntimeError) -> [[Float]] {
        let h = configuration.hiddenSize
        return try forward(prepare(sequences), adapter: adapter, observer: observer) { hidden, batch in
            (0..<batch.count).map { s in
                Array(UnsafeBufferPointer(start: hidden + batch.offsets[s] * h, count: batch.lengths[s] * h))
            }
        }
    }

    /// The mean of each sequence's last hidden states over its tokens (sentence-transformers' mean
    /// pooling; no normalisation).
    public func meanPooled(_ sequences: [[Int32]], adapter: FactoredLoRA? = nil,
                           observer: (any LinearInputObserver)? = nil) throws(ModelRuntimeError) -> [[Float]] {
        try meanPooled(prepare(sequences), adapter: adapter, observer: observer)
    }

    /// `meanPooled` of a batch prepared once for forward passes with many adapters (`prepare`).
    public func meanPooled(_ prepared: PreparedBatch, adapter: FactoredLoRA? = nil,
                           observer: (any LinearInputObserver)? = nil) throws(ModelRuntimeError) -> [[Float]] {
        let h = configuration.hiddenSize
        return try forward(prepared, adapter: adapter, observer: observer) { hidden, batch in
            (0..<batch.count).map { s in
                var sum = [Float](repeating: 0, count: h)
                let count = batch.lengths[s]
                sum.withUnsafeMutableBufferPointer { sum in
                    for t in 0..<count {
                        FloatKernels.add(sum.baseAddress!, hidden + (batch.offsets[s] + t) * h, count: h)
                    }
                }
                let scale = 1 / Float(count)
                return sum.map { $0 * scale }
            }
        }
    }

    /// `adapter`'s modules bound to this model's linear maps (a `bert.` prefix is dropped).
    func bind(_ adapter: FactoredLoRA?) throws(ModelRuntimeError) -> AdapterBinding {
        try AdapterBinding(adapter, linears: linearShapes, example: "encoder.layer.0.attention.self.query",
                           canonicalName: Self.canonicalLinearName)
    }

    /// The name this model gives the linear map an adapter module path names (a `bert.` prefix is dropped).
    public static func canonicalLinearName(_ name: String) -> String {
        name.hasPrefix("bert.") ? String(name.dropFirst(5)) : name
    }

    /// Runs the encoder on a prepared batch and hands the final hidden states (tokens × hidden) and the
    /// batch layout to `body`.
    private func forward<R>(
        _ prepared: PreparedBatch, adapter: FactoredLoRA?, observer: (any LinearInputObserver)?, _ body: (UnsafePointer<Float>, PackedBatch) -> R
    ) throws(ModelRuntimeError) -> R {
        let batch = prepared.batch
        let binding = try bind(adapter)
        let tokens = batch.tokenCount
        guard tokens > 0 else {
            let none: Float = 0
            return withUnsafePointer(to: none) { body($0, batch) }
        }

        let h = configuration.hiddenSize
        let inner = configuration.intermediateSize
        let x = UnsafeMutablePointer<Float>.allocate(capacity: tokens * h)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: tokens * h)
        let context = UnsafeMutablePointer<Float>.allocate(capacity: tokens * h)
        let qkv = UnsafeMutablePointer<Float>.allocate(capacity: tokens * 3 * h)
        let intermediate = UnsafeMutablePointer<Float>.allocate(capacity: tokens * inner)
        defer {
            for buffer in [x, scratch, context, qkv, intermediate] { buffer.deallocate() }
        }
        prepared.embedded.withUnsafeBufferPointer { x.update(from: $0.baseAddress!, count: tokens * h) }
        let epsilon = configuration.layerNormEpsilon
        let attention = Attention(heads: configuration.headCount, keyValueHeads: configuration.headCount,
                                  headSize: configuration.headSize, causal: false)
        for (index, layer) in layers.enumerated() {
            let projections = layer.queryKeyValue
            if index == 0 {
                // The first layer's own projections are the prepared batch's; only the adapter's updates are new.
                projections.show(x, rows: tokens, to: observer)
                prepared.firstProjections.withUnsafeBufferPointer { qkv.update(from: $0.baseAddress!, count: tokens * 3 * h) }
                projections.addUpdates(x, rows: tokens, into: qkv, adapter: binding)
            } else {
                projections.apply(x, rows: tokens, into: qkv, adapter: binding, observer: observer)
            }
            attention.context(query: qkv, queryStride: 3 * h, key: qkv + h, keyStride: 3 * h, value: qkv + 2 * h,
                              valueStride: 3 * h, batch: batch, into: context, contextStride: h)
            layer.attentionOutput.apply(context, rows: tokens, into: scratch, adapter: binding, observer: observer)
            FloatKernels.add(x, scratch, count: tokens * h)
            FloatKernels.layerNorm(x, rows: tokens, width: h, gamma: layer.attentionNormGamma,
                                   beta: layer.attentionNormBeta, epsilon: epsilon)
            layer.intermediate.apply(x, rows: tokens, into: intermediate, adapter: binding, observer: observer)
            FloatKernels.gelu(intermediate, count: tokens * inner)
            layer.output.apply(intermediate, rows: tokens, into: scratch, adapter: binding, observer: observer)
            FloatKernels.add(x, scratch, count: tokens * h)
            FloatKernels.layerNorm(x, rows: tokens, width: h, gamma: layer.outputNormGamma,
                                   beta: layer.outputNormBeta, epsilon: epsilon)
        }
        return body(UnsafePointer(x), batch)
    }
}
