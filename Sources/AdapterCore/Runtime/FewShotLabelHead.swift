import Foundation

/// Tells which of a task's labels a model (with or without an adapter) gives a prompt, learned from
/// nothing but the task's labelled examples — the head both the label-probability evaluator and the
/// behavioural screen read the model through.
///
/// - Decoders: each label is scored as the answer after the prompt, as the task was trained
///   (`ExampleSequences.answerTokens`): the sum of its tokens' log-probabilities.
/// - Encoders: the prompt's sentence embedding (mean-pooled, unit length) is compared with each
///   label's prototype — the normalised mean embedding of that label's examples under a reference
///   adapter (`prototypes(adapter:)`) — as cosine / `temperature`.
///
/// The first `maximumExamples` labelled examples (label, else output) are kept; a task with fewer
/// than two or more than `maximumLabels` distinct labels has no head (`invalidArgument`).
public struct FewShotLabelHead: Sendable {
    public let model: BaseModel
    public let encoding: ExampleSequences
    /// The distinct labels, sorted.
    public let labels: [String]
    /// The kept examples, and the index into `labels` of each one's label.
    public let examples: [TaskExample]
    public let gold: [Int]
    /// Each kept example's prompt tokens.
    public let prompts: [[Int32]]
    /// Per label, its answer tokens (decoders; empty for encoders).
    let answers: [[Int32]]

    public static let temperature = 0.05
    public static let maximumExamples = 64
    public static let maximumLabels = 32

    /// The head of a task with `examples`; `taskName` is for messages only.
    public init(examples: [TaskExample], taskName: String, model: BaseModel, encoding: ExampleSequences) throws(ModelRuntimeError) {
        let labelled = Self.labelled(examples)
        let labels = Array(Set(labelled.map(\.1))).sorted()
        guard labels.count >= 2 else {
            throw ModelRuntimeError(.invalidArgument,
                "task '\(taskName)' has \(labels.count) distinct label(s) in its examples; a label head needs at least 2")
        }
        guard labels.count <= Self.maximumLabels else {
            throw ModelRuntimeError(.invalidArgument,
                "task '\(taskName)' has \(labels.count) distinct labels in its examples; a label head scores at most \(Self.maximumLabels)")
        }
        self.model = model
        self.encoding = encoding
        self.labels = labels
        self.examples = labelled.map(\.0)
        gold = labelled.map { labels.firstIndex(of: $0.1)! }
        var prompts: [[Int32]] = []
        for (example, _) in labelled { prompts.append(try encoding.prompt(example)) }
        self.prompts = prompts
        answers = labels.map(encoding.answerTokens)
    }

    /// Encoders: the kept examples' prompts prepared for forward passes with many adapters
    /// (`BertModel.prepare`), for `logits(adapter:prototypes:prepared:)`; nil for decoders and for more
    /// prompts than one forward pass reads. A caller that scores many adapters keeps it while it does
    /// (1.1 MB for ten MiniLM prompts of 18 tokens), not the head, which may be kept far longer.
    public func preparedPrompts() throws(ModelRuntimeError) -> BertModel.PreparedBatch? {
        guard case .bert(let bert) = model, prompts.count <= Self.maximumBatch else { return nil }
        return try bert.prepare(prompts)
    }

    /// The first `maximumExamples` examples that carry a label (else an output), with it.
    private static func labelled(_ examples: [TaskExample]) -> [(TaskExample, String)] {
        Array(examples.compactMap { example in (example.output ?? example.label).map { (example, $0) } }
            .prefix(maximumExamples))
    }

    /// Whether these examples make a head: 2 to `maximumLabels` distinct labels among the kept ones.
    public static func hasHead(_ examples: [TaskExample]) -> Bool {
        (2...maximumLabels).contains(Set(labelled(examples).map(\.1)).count)
    }

    /// Encoders: each label's prototype under `adapter` (unit vectors, in `labels` order), from the
    /// kept examples' prompts. Decoders need none: empty.
    public func prototypes(adapter: FactoredLoRA?) throws(ModelRuntimeError) -> [[Float]] {
        guard case .bert(let bert) = model else { return [] }
        return prototypes(of: try bert.meanPooled(prompts, adapter: adapter).map(MiniLMEmbedder.normalised))
    }

    /// The prototypes `adapter` gives the labels and the kept examples' logits under it, from one
    /// reading of the examples: what `prototypes(adapter:)` and then `logits(prompts, adapter:
    /// prototypes:)` give, without reading them twice.
    public func reference(adapter: FactoredLoRA?) throws(ModelRuntimeError) -> (prototypes: [[Float]], logits: [[Double]]) {
        guard case .bert(let bert) = model, prompts.count <= Self.maximumBatch else {
            let prototypes = try prototypes(adapter: adapter)
            return (prototypes, try logits(prompts, adapter: adapter, prototypes: prototypes))
        }
        let vectors = try bert.meanPooled(prompts, adapter: adapter).map(MiniLMEmbedder.normalised)
        let prototypes = prototypes(of: vectors)
        return (prototypes, Self.cosineLogits(vectors, prototypes))
    }

    /// Each label's prototype: the normalised sum of its examples' unit embeddings.
    private func prototypes(of vectors: [[Float]]) -> [[Float]] {
        var sums = [[Float]](repeating: [Float](repeating: 0, count: vectors.first?.count ?? 0), count: labels.count)
        for (i, vector) in vectors.enumerated() {
            for j in vector.indices { sums[gold[i]][j] += vector[j] }
        }
        return sums.map(MiniLMEmbedder.normalised)
    }

    /// Prompts read in one forward pass: bounds its buffers however many prompts a caller passes (a
    /// behavioural probe passes hundreds).
    public static let maximumBatch = 64

    /// `logits(prompts, adapter:, prototypes:)` of the kept examples' own prompts, read from `prepared`
    /// (their `preparedPrompts()`) where given.
    public func logits(adapter: FactoredLoRA?, prototypes: [[Float]], prepared: BertModel.PreparedBatch?) throws(ModelRuntimeError) -> [[Double]] {
        guard let prepared, case .bert(let bert) = model else { return try logits(prompts, adapter: adapter, prototypes: prototypes) }
        return Self.cosineLogits(try bert.meanPooled(prepared, adapter: adapter).map(MiniLMEmbedder.normalised), prototypes)
    }

    /// Per prompt, one logit per label (decoders: the answer's summed log-probability; encoders:
    /// cosine to the label's prototype / `temperature`). A decoder answer cut off by the model's
    /// positions counts the tokens that fit. Read in forward passes of at most `maximumBatch` prompts.
    public func logits(_ prompts: [[Int32]], adapter: FactoredLoRA?, prototypes: [[Float]]) throws(ModelRuntimeError) -> [[Double]] {
        var out: [[Double]] = []
        out.reserveCapacity(prompts.count)
        for start in stride(from: 0, to: prompts.count, by: Self.maximumBatch) {
            let batch = Array(prompts[start..<min(prompts.count, start + Self.maximumBatch)])
            out += try batchLogits(batch, adapter: adapter, prototypes: prototypes)
        }
        return out
    }

    private func batchLogits(_ prompts: [[Int32]], adapter: FactoredLoRA?, prototypes: [[Float]]) throws(ModelRuntimeError) -> [[Double]] {
        switch model {
        case .decoder(let decoder):
            var sequences: [[Int32]] = []
            for prompt in prompts {
                for answer in answers { sequences.append(Array((prompt + answer).prefix(encoding.maxLength))) }
            }
            // Only the rows that predict answer tokens: from the prompt's last token on.
            let rows = (answers.map(\.count).max() ?? 0) + 1
            let outputs = try decoder.forward(sequences, adapter: adapter, logits: .lastRows(rows))
            let vocabulary = decoder.configuration.vocabularySize
            return prompts.indices.map { i in
                answers.indices.map { j in
                    let k = i * answers.count + j
                    let sequence = sequences[k], logits = outputs[k].logits
                    let firstRow = sequence.count - min(rows, sequence.count)  // the position of logits' row 0
                    var sum = 0.0
                    var t = max(1, prompts[i].count, firstRow + 1)
                    while t < sequence.count {
                        let row = t - 1 - firstRow
                        sum += Self.logProbability(of: Int(sequence[t]), logits[(row * vocabulary)..<((row + 1) * vocabulary)])
                        t += 1
                    }
                    return sum
                }
            }
        case .bert(let bert):
            return Self.cosineLogits(try bert.meanPooled(prompts, adapter: adapter).map(MiniLMEmbedder.normalised), prototypes)
        }
    }

    /// Encoders' logits: each unit embedding's cosine to each prototype / `temperature`.
    private static func cosineLogits(_ vectors: [[Float]], _ prototypes: [[Float]]) -> [[Double]] {
        vectors.map { vector in
            prototypes.map { prototype in
                zip(vector, prototype).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } / temperature
            }
        }
    }

    /// The index of the largest logit of each row (the predicted label).
    public static func predictions(_ logits: [[Double]]) -> [Int] {
        logits.map { row in row.indices.max { row[$0] < row[$1] } ?? 0 }
    }

    /// log softmax(row)[token], without materialising the distribution (one pass for the maximum,
    /// one for the sum).
    static func logProbability(of token: Int, _ row: ArraySlice<Float>) -> Double {
        let top = Double(row.max() ?? 0)
        var sum = 0.0
        for value in row { sum += exp(Double(value) - top) }
        return Double(row[row.startIndex + token]) - top - log(sum)
    }

    public static func softmax(_ values: [Double]) -> [Double] {
        logSoftmax(values).map { exp($0) }
    }

    /// log softmax(values), computed without forming the probabilities (no underflow to log 0).
    public static func logSoftmax(_ values: [Double]) -> [Double] {
        let top = values.max() ?? 0
        let logSum = log(values.reduce(0.0) { $0 + exp($1 - top) })
        return values.map { $0 - top - logSum }
    }
}
