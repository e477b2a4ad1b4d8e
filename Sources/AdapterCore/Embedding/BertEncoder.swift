import COpenBLAS
import Foundation

/// A BERT encoder in single precision over OpenBLAS (`cblas_sgemm`): word + position + token-type
/// embeddings with LayerNorm, then post-LayerNorm transformer layers (multi-head self-attention, exact
/// GELU feed-forward), as Hugging Face's `BertModel` computes its last hidden state.
///
/// A batch is packed without padding: the dense layers run on all tokens of all sequences at once, and
/// each token attends only to the tokens of its own sequence — the same result a padded batch with
/// BERT's attention mask gives, without computing the padding.
public struct BertEncoder: Sendable {
    public let configuration: BertConfiguration

    struct Layer: Sendable {
        /// Query, key and value projections stacked into one (3·hidden)×hidden weight.
        var qkvWeight: [Float], qkvBias: [Float]
        var attentionOutputWeight: [Float], attentionOutputBias: [Float]
        var attentionNormGamma: [Float], attentionNormBeta: [Float]
        var intermediateWeight: [Float], intermediateBias: [Float]
        var outputWeight: [Float], outputBias: [Float]
        var outputNormGamma: [Float], outputNormBeta: [Float]
    }

    private let wordEmbeddings: [Float]
    private let positionEmbeddings: [Float]
    private let tokenTypeEmbeddings: [Float]
    private let embeddingNormGamma: [Float]
    private let embeddingNormBeta: [Float]
    private let layers: [Layer]

    /// Loads config.json and model.safetensors from a Hugging Face BERT model directory.
    public init(modelDirectory: URL) throws(EmbeddingError) {
        try self.init(configuration: BertConfiguration(modelDirectory: modelDirectory),
                      weightsFile: modelDirectory.appendingPathComponent("model.safetensors"))
    }

    /// Loads the weights of a `BertModel` (tensor names with or without a `bert.` prefix; F32, F16 or
    /// BF16) and checks every shape against `configuration`.
    public init(configuration: BertConfiguration, weightsFile: URL) throws(EmbeddingError) {
        let file: SafeTensorsFile
        do {
            file = try SafeTensorsFile(contentsOf: weightsFile)
        } catch {
            throw EmbeddingError(error.code == .unreadableFile ? .unreadableFile : .invalidWeights,
                                 "cannot load the BERT weights '\(weightsFile.path)': \(error.message)")
        }
        let prefix = file.tensor(named: "embeddings.word_embeddings.weight") == nil
            && file.tensor(named: "bert.embeddings.word_embeddings.weight") != nil ? "bert." : ""
        let h = configuration.hiddenSize
        let inner = configuration.intermediateSize
        func load(_ name: String, _ shape: [Int]) throws(EmbeddingError) -> [Float] {
            guard let info = file.tensor(named: prefix + name) else {
                throw EmbeddingError(.invalidWeights, "'\(weightsFile.lastPathComponent)' has no tensor '\(prefix + name)'")
            }
            guard info.shape == shape else {
                throw EmbeddingError(.invalidWeights,
                    "tensor '\(prefix + name)' has shape \(info.shape); the model configuration needs \(shape)")
            }
            do {
                return try file.floats(prefix + name)
            } catch {
                throw EmbeddingError(.invalidWeights, error.message)
            }
        }
        self.configuration = configuration
        wordEmbeddings = try load("embeddings.word_embeddings.weight", [configuration.vocabularySize, h])
        positionEmbeddings = try load("embeddings.position_embeddings.weight", [configuration.maxPositions, h])
        tokenTypeEmbeddings = try load("embeddings.token_type_embeddings.weight", [configuration.tokenTypeCount, h])
        embeddingNormGamma = try load("embeddings.LayerNorm.weight", [h])
        embeddingNormBeta = try load("embeddings.LayerNorm.bias", [h])
        var layers: [Layer] = []
        for i in 0..<configuration.layerCount {
            let p = "encoder.layer.\(i)."
            let qkvWeight = try load(p + "attention.self.query.weight", [h, h])
                + load(p + "attention.self.key.weight", [h, h]) + load(p + "attention.self.value.weight", [h, h])
            let qkvBias = try load(p + "attention.self.query.bias", [h])
                + load(p + "attention.self.key.bias", [h]) + load(p + "attention.self.value.bias", [h])
            layers.append(Layer(
                qkvWeight: qkvWeight, qkvBias: qkvBias,
                attentionOutputWeight: try load(p + "attention.output.dense.weight", [h, h]),
                attentionOutputBias: try load(p + "attention.output.dense.bias", [h]),
                attentionNormGamma: try load(p + "attention.output.LayerNorm.weight", [h]),
                attentionNormBeta: try load(p + "attention.output.LayerNorm.bias", [h]),
                intermediateWeight: try load(p + "intermediate.dense.weight", [inner, h]),
                intermediateBias: try load(p + "intermediate.dense.bias", [inner]),
                outputWeight: try load(p + "output.dense.weight", [h, inner]),
                outputBias: try load(p + "output.dense.bias", [h]),
                outputNormGamma: try load(p + "output.LayerNorm.weight", [h]),
                outputNormBeta: try load(p + "output.LayerNorm.bias", [h])))
        }
        self.layers = layers
    }

    /// The last hidden state of each sequence, `sequence.count × hiddenSize` values row-major.
    public func hiddenStates(_ sequences: [[Int32]]) throws(EmbeddingError) -> [[Float]] {
        let h = configuration.hiddenSize
        return try forward(sequences) { hidden, offsets in
            sequences.indices.map { s in
                Array(UnsafeBufferPointer(start: hidden + offsets[s] * h, count: sequences[s].count * h))
            }
        }
    }

    /// The mean of each sequence's last hidden states over its tokens (sentence-transformers' mean
    /// pooling; no normalisation).
    public func meanPooled(_ sequences: [[Int32]]) throws(EmbeddingError) -> [[Float]] {
        let h = configuration.hiddenSize
        return try forward(sequences) { hidden, offsets in
            sequences.indices.map { s in
                var sum = [Float](repeating: 0, count: h)
                let count = sequences[s].count
                for t in 0..<count {
                    let row = hidden + (offsets[s] + t) * h
                    for i in 0..<h { sum[i] += row[i] }
                }
                let scale = 1 / Float(count)
                return sum.map { $0 * scale }
            }
        }
    }

    /// Runs the encoder on the packed batch and hands the final hidden states (tokens × hidden) and each
    /// sequence's first row to `body`.
    private func forward<R>(
        _ sequences: [[Int32]], _ body: (UnsafePointer<Float>, [Int]) -> R
    ) throws(EmbeddingError) -> R {
        let h = configuration.hiddenSize
        let vocabulary = configuration.vocabularySize
        var offsets: [Int] = []
        offsets.reserveCapacity(sequences.count)
        var tokens = 0
        var longest = 0
        for (index, sequence) in sequences.enumerated() {
            guard !sequence.isEmpty, sequence.count <= configuration.maxPositions else {
                throw EmbeddingError(.invalidArgument,
                    "sequence \(index) has \(sequence.count) tokens; the encoder takes 1 to \(configuration.maxPositions)")
            }
            if let bad = sequence.first(where: { $0 < 0 || Int($0) >= vocabulary }) {
                throw EmbeddingError(.invalidArgument, "sequence \(index) has token id \(bad), outside the vocabulary of \(vocabulary)")
            }
            offsets.append(tokens)
            tokens += sequence.count
            longest = max(longest, sequence.count)
        }
        guard tokens > 0 else {
            let none: Float = 0
            return withUnsafePointer(to: none) { body($0, offsets) }
        }

        let inner = configuration.intermediateSize
        let x = UnsafeMutablePointer<Float>.allocate(capacity: tokens * h)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: tokens * h)
        let context = UnsafeMutablePointer<Float>.allocate(capacity: tokens * h)
        let qkv = UnsafeMutablePointer<Float>.allocate(capacity: tokens * 3 * h)
        let intermediate = UnsafeMutablePointer<Float>.allocate(capacity: tokens * inner)
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: longest * longest)
        defer {
            for buffer in [x, scratch, context, qkv, intermediate, scores] { buffer.deallocate() }
        }

        // Embeddings: word + absolute position + token type 0, then LayerNorm.
        for (s, sequence) in sequences.enumerated() {
            for (position, id) in sequence.enumerated() {
                let row = x + (offsets[s] + position) * h
                let word = Int(id) * h
                let place = position * h
                for i in 0..<h {
                    row[i] = wordEmbeddings[word + i] + positionEmbeddings[place + i] + tokenTypeEmbeddings[i]
                }
            }
        }
        let epsilon = configuration.layerNormEpsilon
        FloatKernels.layerNorm(x, rows: tokens, width: h, gamma: embeddingNormGamma, beta: embeddingNormBeta, epsilon: epsilon)

        let d = configuration.headSize
        let scale = 1 / Float(d).squareRoot()
        let stride = Int32(3 * h)
        for layer in layers {
            FloatKernels.linear(x, rows: tokens, inputs: h, weight: layer.qkvWeight, bias: layer.qkvBias,
                                into: qkv, outputs: 3 * h)
            for (s, sequence) in sequences.enumerated() {
                let n = Int32(sequence.count)
                for head in 0..<configuration.headCount {
                    let q = qkv + offsets[s] * 3 * h + head * d
                    // scores = q·kᵀ/√d over this sequence's tokens only (the padding mask, in effect).
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, Int32(d),
                                scale, q, stride, q + h, stride, 0, scores, n)
                    FloatKernels.softmaxRows(scores, rows: Int(n), width: Int(n))
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, Int32(d), n,
                                1, scores, n, q + 2 * h, stride, 0, context + offsets[s] * h + head * d, Int32(h))
                }
            }
            FloatKernels.linear(context, rows: tokens, inputs: h, weight: layer.attentionOutputWeight,
                                bias: layer.attentionOutputBias, into: scratch, outputs: h)
            addInPlace(x, scratch, count: tokens * h)
            FloatKernels.layerNorm(x, rows: tokens, width: h, gamma: layer.attentionNormGamma,
                                   beta: layer.attentionNormBeta, epsilon: epsilon)

            FloatKernels.linear(x, rows: tokens, inputs: h, weight: layer.intermediateWeight,
                                bias: layer.intermediateBias, into: intermediate, outputs: inner)
            FloatKernels.gelu(intermediate, count: tokens * inner)
            FloatKernels.linear(intermediate, rows: tokens, inputs: inner, weight: layer.outputWeight,
                                bias: layer.outputBias, into: scratch, outputs: h)
            addInPlace(x, scratch, count: tokens * h)
            FloatKernels.layerNorm(x, rows: tokens, width: h, gamma: layer.outputNormGamma,
                                   beta: layer.outputNormBeta, epsilon: epsilon)
        }
        return body(UnsafePointer(x), offsets)
    }

    private func addInPlace(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { x[i] += y[i] }
    }
}
