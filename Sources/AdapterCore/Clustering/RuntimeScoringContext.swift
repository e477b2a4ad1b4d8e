/// What an evaluator that runs the base model needs: the model, how a task's examples become token
/// sequences (the sketcher's, so every built-in evaluator runs one runtime), and where each task's examples come from.
struct RuntimeScoringContext: Sendable {
    let model: BaseModel
    let encoding: ExampleSequences
    let examplesOf: @Sendable (TaskProfile) throws -> [TaskExample]

    init(sketcher: TaskInputSketcher, examples: @escaping @Sendable (TaskProfile) throws -> [TaskExample]) {
        self.model = sketcher.model
        self.encoding = sketcher.encoding
        self.examplesOf = examples
    }
}
