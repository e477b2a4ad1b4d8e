/// What an evaluator that runs the base model needs: the model, how a task's examples become token
/// sequences, and where each task's examples come from.
struct RuntimeScoringContext: Sendable {
    let model: BaseModel
    let encoding: ExampleSequences
    let examplesOf: @Sendable (TaskProfile) throws -> [TaskExample]

    init(model: BaseModel, tokenizer: any Tokenizer, examples: @escaping @Sendable (TaskProfile) throws -> [TaskExample]) {
        self.model = model
        self.encoding = ExampleSequences(tokenizer: tokenizer, model: model)
        self.examplesOf = examples
    }
}
