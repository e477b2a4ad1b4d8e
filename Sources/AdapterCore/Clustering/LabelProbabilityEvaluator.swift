import Foundation

/// The built-in few-shot evaluator: the mean probability the base model with the candidate gives
/// each of the task's labelled examples' right label, among the labels its examples use — what an
/// external few-example scorer measures, computed by the runtime (no Python).
///
/// - Decoders: the prompt followed by each label as the task was trained on (`ExampleSequences`);
///   a label's log-probability is the sum over its tokens; softmax over the labels.
/// - Encoders: a frozen head made from the task's own adapter: per label, the normalised mean of the
///   examples' sentence embeddings (base + own adapter); logits = cosine to each prototype / 0.05;
///   softmax over the labels.
///
/// Retained quality is score(serving) / score(own); the own adapter's score is computed once per
/// (task, version). The first `maximumExamples` labelled examples are used; a task whose examples
/// carry fewer than two or more than `maximumLabels` distinct labels cannot be scored:
/// `evaluatorFailed`, as is every other failure.
public struct LabelProbabilityEvaluator: Evaluator {
    public var name: String { "label-probability" }

    private let context: RuntimeScoringContext
    private let references = TaskReferenceCache<Reference>()
    static let temperature = 0.05
    /// At most this many labelled examples are read (the first ones), and at most this many distinct
    /// labels scored: each candidate costs examples × labels sequences for a decoder.
    public static let maximumExamples = 64
    public static let maximumLabels = 32

    public init(model: BaseModel, tokenizer: any Tokenizer,
                examples: @escaping @Sendable (TaskProfile) throws -> [TaskExample]) {
        context = RuntimeScoringContext(model: model, tokenizer: tokenizer, examples: examples)
    }

    /// The model and tokenizer of a sketcher (one runtime for every built-in evaluator).
    public init(sketcher: TaskInputSketcher, examples: @escaping @Sendable (TaskProfile) throws -> [TaskExample]) {
        self.init(model: sketcher.model, tokenizer: sketcher.encoding.tokenizer, examples: examples)
    }

    public func score(task: TaskProfile, candidate: LoRAAdapter) async throws -> Double {
        do {
            return try reference(for: task).probability(with: try FactoredLoRA(candidate))
        } catch {
            throw ClusteringError.evaluatorFailure(error, "label probability of task '\(task.name)'")
        }
    }

    private func reference(for task: TaskProfile) throws -> Reference {
        try references.value(for: task) {
            try Reference(task: task, examples: context.examplesOf(task), model: context.model, encoding: context.encoding)
        }
    }

    /// A task's labelled examples, encoded once; for encoders also the prototypes of its labels.
    struct Reference: Sendable {
        let model: BaseModel
        let labels: [String]
        /// Index into `labels` of each example's right label.
        let gold: [Int]
        /// Decoders: per example, per label, the prompt + label sequence and where the label starts.
        let candidates: [[(sequence: [Int32], answerStart: Int)]]
        /// Encoders: the examples' token sequences and the label prototypes (unit vectors).
        let texts: [[Int32]]
        let prototypes: [[Float]]

        init(task: TaskProfile, examples: [TaskExample], model: BaseModel, encoding: ExampleSequences) throws {
            let labelled = Array(examples.compactMap { example in (example.output ?? example.label).map { (example, $0) } }
                .prefix(LabelProbabilityEvaluator.maximumExamples))
            let labels = Array(Set(labelled.map(\.1))).sorted()
            guard labels.count >= 2 else {
                throw ClusteringError(.evaluatorFailed,
                    "task '\(task.name)' has \(labels.count) distinct label(s) in its examples; label probability needs at least 2")
            }
            guard labels.count <= LabelProbabilityEvaluator.maximumLabels else {
                throw ClusteringError(.evaluatorFailed,
                    "task '\(task.name)' has \(labels.count) distinct labels in its examples; label probability scores at most \(LabelProbabilityEvaluator.maximumLabels)")
            }
            self.model = model
            self.labels = labels
            gold = labelled.map { labels.firstIndex(of: $0.1)! }
            if encoding.isDecoder {
                candidates = try labelled.map { example, _ in
                    let prompt = try encoding.prompt(example)
                    return try labels.map { label in
                        (try encoding.promptAndAnswer(TaskExample(text: example.text, label: label)), prompt.count)
                    }
                }
                texts = []
                prototypes = []
            } else {
                candidates = []
                texts = try labelled.map { example, _ in try encoding.prompt(example) }
                let own = try Self.embeddings(model, texts, try FactoredLoRA(task.adapter))
                var sums = [[Float]](repeating: [Float](repeating: 0, count: own.first?.count ?? 0), count: labels.count)
                for (i, vector) in own.enumerated() {
                    for j in vector.indices { sums[gold[i]][j] += vector[j] }
                }
                prototypes = sums.map(MiniLMEmbedder.normalised)
            }
        }

        /// Mean probability of the right label with `adapter` applied.
        func probability(with adapter: FactoredLoRA) throws -> Double {
            var total = 0.0
            switch model {
            case .decoder(let decoder):
                let flat = candidates.flatMap { $0.map(\.sequence) }
                let outputs = try decoder.forward(flat, adapter: adapter, logits: .all)
                let vocabulary = decoder.configuration.vocabularySize
                var k = 0
                for (i, perLabel) in candidates.enumerated() {
                    var logProbabilities: [Double] = []
                    for (sequence, start) in perLabel {
                        let logits = outputs[k].logits
                        k += 1
                        var sum = 0.0
                        for t in start..<sequence.count {
                            sum += Self.logProbability(of: Int(sequence[t]), logits[((t - 1) * vocabulary)..<(t * vocabulary)])
                        }
                        logProbabilities.append(sum)
                    }
                    total += Self.softmax(logProbabilities)[gold[i]]
                }
            case .bert:
                let vectors = try Self.embeddings(model, texts, adapter)
                for (i, vector) in vectors.enumerated() {
                    let logits = prototypes.map { prototype in
                        zip(vector, prototype).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } / LabelProbabilityEvaluator.temperature
                    }
                    total += Self.softmax(logits)[gold[i]]
                }
            }
            return total / Double(max(1, gold.count))
        }

        static func embeddings(_ model: BaseModel, _ texts: [[Int32]], _ adapter: FactoredLoRA) throws -> [[Float]] {
            guard case .bert(let bert) = model else { return [] }
            return try bert.meanPooled(texts, adapter: adapter).map(MiniLMEmbedder.normalised)
        }

        /// log softmax(row)[token], without materialising the distribution (one pass for the maximum,
        /// one for the sum).
        static func logProbability(of token: Int, _ row: ArraySlice<Float>) -> Double {
            let top = Double(row.max() ?? 0)
            var sum = 0.0
            for value in row { sum += exp(Double(value) - top) }
            return Double(row[row.startIndex + token]) - top - log(sum)
        }

        static func softmax(_ values: [Double]) -> [Double] {
            let top = values.max() ?? 0
            let exps = values.map { exp($0 - top) }
            let sum = exps.reduce(0, +)
            return exps.map { $0 / sum }
        }
    }

}
