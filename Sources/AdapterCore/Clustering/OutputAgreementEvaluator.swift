/// The built-in output-level evaluator: runs the base model with the candidate on the task's examples
/// and scores how much of the own adapter's change of the model's outputs it reproduces
/// (`OutputAgreement`): for a decoder, of the next-token distribution where the answer follows
/// (1 − KL(own ‖ candidate) / KL(own ‖ base)); for an encoder, of the sentence embeddings
/// (1 − Σ‖o_c − o_own‖² / Σ‖o_own − o_base‖²); clamped to [0, 1], so the own adapter scores 1 and
/// retained quality equals the score. One forward pass over the examples per candidate, against the
/// data-aware score's two small products per linear map; the task's side (own and base outputs) is
/// computed once per (task, version). Every failure is `evaluatorFailed`.
public struct OutputAgreementEvaluator: ComputedEvaluator {
    public var name: String { "output-agreement" }
    public var maximumScore: Double? { 1 }

    private let context: RuntimeScoringContext
    private let references = TaskReferenceCache<OutputAgreement.Reference>()

    /// Scores with the model and tokenizer of a sketcher (one runtime for every built-in evaluator).
    public init(sketcher: TaskInputSketcher, examples: @escaping @Sendable (TaskProfile) throws -> [TaskExample]) {
        context = RuntimeScoringContext(sketcher: sketcher, examples: examples)
    }

    public func scoreNow(task: TaskProfile, candidate: LoRAAdapter) throws -> Double {
        do {
            let agreement = try reference(for: task).agreement(try FactoredLoRA(candidate))
            let share = agreement.klRetention ?? agreement.retention ?? 1
            return min(1, max(0, share))
        } catch {
            throw ClusteringError.evaluatorFailure(error, "output agreement of task '\(task.name)'")
        }
    }

    private func reference(for task: TaskProfile) throws -> OutputAgreement.Reference {
        try references.value(for: task) {
            let prompts = try context.examplesOf(task).map { example throws(ModelRuntimeError) in try context.encoding.prompt(example) }
            return try OutputAgreement.Reference(model: context.model, sequences: prompts, own: try FactoredLoRA(task.adapter))
        }
    }
}
