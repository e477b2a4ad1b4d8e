extension BertModel {
    /// Sequences packed for forward passes with any number of adapters, with what every one of those
    /// passes computes alike: the embeddings (word + position + token type, LayerNorm) and the first
    /// layer's query, key and value of them, which no adapter changes (an adapter's updates of that
    /// layer are added to them). An evaluator that scores many candidate adapters on one task's examples
    /// prepares them once.
    public struct PreparedBatch: Sendable {
        let batch: PackedBatch
        /// tokens × hidden.
        let embedded: [Float]
        /// tokens × 3·hidden: the first layer's query, key and value (bias included), side by side.
        let firstProjections: [Float]
    }

    /// Packs `sequences` (refusing an empty one, one longer than the model's positions, or an id outside
    /// its vocabulary) and computes what every forward pass over them shares.
    public func prepare(_ sequences: [[Int32]]) throws(ModelRuntimeError) -> PreparedBatch {
        let batch = try PackedBatch(sequences, vocabularySize: configuration.vocabularySize,
                                    maxLength: configuration.maxPositions)
        let h = configuration.hiddenSize
        let tokens = batch.tokenCount
        var embedded = [Float](repeating: 0, count: tokens * h)
        embedded.withUnsafeMutableBufferPointer { x in
            // Word + absolute position + token type 0, then LayerNorm.
            wordEmbeddings.withUnsafeBufferPointer { words in
                positionEmbeddings.withUnsafeBufferPointer { positions in
                    tokenTypeEmbeddings.withUnsafeBufferPointer { types in
                        for (s, sequence) in sequences.enumerated() {
                            for (position, id) in sequence.enumerated() {
                                let row = x.baseAddress! + (batch.offsets[s] + position) * h
                                let word = words.baseAddress! + Int(id) * h
                                let place = positions.baseAddress! + position * h
                                for i in 0..<h { row[i] = word[i] + place[i] + types[i] }
                            }
                        }
                    }
                }
            }
            guard tokens > 0 else { return }
            FloatKernels.layerNorm(x.baseAddress!, rows: tokens, width: h, gamma: embeddingNormGamma,
                                   beta: embeddingNormBeta, epsilon: configuration.layerNormEpsilon)
        }
        var projections = [Float](repeating: 0, count: tokens * 3 * h)
        if tokens > 0, let first = layers.first {
            embedded.withUnsafeBufferPointer { x in
                projections.withUnsafeMutableBufferPointer { y in
                    first.queryKeyValue.apply(x.baseAddress!, rows: tokens, into: y.baseAddress!, adapter: .none)
                }
            }
        }
        return PreparedBatch(batch: batch, embedded: embedded, firstProjections: projections)
    }
}
