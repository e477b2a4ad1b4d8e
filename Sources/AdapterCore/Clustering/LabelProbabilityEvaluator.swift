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
public struct LabelProbabilityEvaluator: ComputedEvaluator {
    public var name: String { "label-probability" }

    private let context: RuntimeScoringContext
    private let references: References
    /// Each task's prompts prepared for the forward passes of this evaluator's scores
    /// (`FewShotLabelHead.preparedPrompts()`), kept as long as the evaluator (one plan), not with the
    /// references, which last from one plan to the next.
    private let prepared = TaskReferenceCache<BertModel.PreparedBatch?>()

    /// At most this many labelled examples are read (the first ones), and at most this many distinct
    /// labels scored: each candidate costs examples × labels sequences for a decoder.
    public static let maximumExamples = FewShotLabelHead.maximumExamples
    public static let maximumLabels = FewShotLabelHead.maximumLabels

    /// The largest base model (`BaseModel.layerParameterCount`) on which scoring every candidate of a
    /// plan by a forward pass is routine: 3× MiniLM-L6, whose plans take seconds (docs/QUALITY.md),
    /// where a Llama-3.2-1B-shaped model takes seconds per example.
    public static let routineLayerParameters = 32_000_000

    /// Whether a plan is routinely scored this way on `model` (`routineLayerParameters`).
    public static func isRoutine(on model: BaseModel) -> Bool { model.layerParameterCount <= routineLayerParameters }

    /// What each task's scores are read against (its label head, the own adapter's prototypes and
    /// score), made once per task version with the model it was made with; shared by the evaluators of
    /// successive plans on that model, so that each reads only its new tasks' own adapters.
    public final class References: Sendable {
        let cache = TaskReferenceCache<Reference>()
        private let heads = TaskReferenceCache<Bool>()

        public init() {}

        /// Whether the examples of this task version make a label head (`FewShotLabelHead.hasHead`),
        /// read once per version; examples that cannot be read make none.
        public func hasHead(name: String, version: Int, examples: () throws -> [TaskExample]) -> Bool {
            heads.value(name: name, version: version) { (try? examples()).map(FewShotLabelHead.hasHead) ?? false }
        }

        /// Drops what is kept for every task version not among `tasks`.
        public func keep(only tasks: [(name: String, version: Int)]) {
            cache.keep(only: tasks)
            heads.keep(only: tasks)
        }
    }

    /// Scores with the model and tokenizer of a sketcher (one runtime for every built-in evaluator);
    /// `references`: kept from an earlier evaluator on the same model and examples, else made here.
    public init(sketcher: TaskInputSketcher, references: References = References(),
                examples: @escaping @Sendable (TaskProfile) throws -> [TaskExample]) {
        context = RuntimeScoringContext(sketcher: sketcher, examples: examples)
        self.references = references
    }

    public func scoreNow(task: TaskProfile, candidate: LoRAAdapter) throws -> Double {
        do {
            let reference = try reference(for: task)
            // The own adapter's score was read with its prototypes.
            if candidate.isCopy(of: task.adapter) { return reference.ownScore }
            let prompts = try prepared.value(for: task) { try reference.head.preparedPrompts() }
            return try reference.probability(with: try FactoredLoRA(candidate), prepared: prompts)
        } catch {
            throw ClusteringError.evaluatorFailure(error, "label probability of task '\(task.name)'")
        }
    }

    /// One of the labelled examples scored (0 when the task cannot be scored).
    public func exampleWeight(for task: TaskProfile) -> Double {
        guard let count = (try? reference(for: task))?.head.gold.count, count > 0 else { return 0 }
        return 1 / Double(count)
    }

    private func reference(for task: TaskProfile) throws -> Reference {
        try references.cache.value(for: task) {
            let head = try FewShotLabelHead(examples: context.examplesOf(task), taskName: task.name,
                                            model: context.model, encoding: context.encoding)
            let own = try head.reference(adapter: try FactoredLoRA(task.adapter))
            return Reference(head: head, prototypes: own.prototypes, ownScore: Reference.meanProbability(own.logits, head))
        }
    }

    /// A task's label head, for encoders the prototypes its own adapter gives the labels, and the own
    /// adapter's score (read with them).
    struct Reference: Sendable {
        let head: FewShotLabelHead
        let prototypes: [[Float]]
        let ownScore: Double

        /// Mean probability of the right label with `adapter` applied (the prompts read from `prepared`
        /// where given).
        func probability(with adapter: FactoredLoRA, prepared: BertModel.PreparedBatch?) throws -> Double {
            Self.meanProbability(try head.logits(adapter: adapter, prototypes: prototypes, prepared: prepared), head)
        }

        static func meanProbability(_ logits: [[Double]], _ head: FewShotLabelHead) -> Double {
            let total = zip(logits, head.gold).reduce(0.0) { $0 + FewShotLabelHead.softmax($1.0)[$1.1] }
            return total / Double(max(1, head.gold.count))
        }
    }
}
