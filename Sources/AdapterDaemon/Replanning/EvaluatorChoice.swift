import AdapterCore

/// The evaluator re-clustering uses, as the settings and the base model make it, with the reason
/// status shows. The data-aware one needs the tasks' input sketches, so it is resolved per plan.
enum EvaluatorChoice: Sendable {
    case fixed(ServedSetPlanner.Evaluators, reason: String)
    case dataAware(LoadedBaseModel, reason: String)
    case labelProbability(LoadedBaseModel, reason: String)

    /// The evaluator's name (`data-aware`, `label-probability`, `weight-space`, or the command's cached name).
    var name: String {
        switch self {
        case .fixed(let evaluators, _): evaluators.primary.name
        case .dataAware: "data-aware"
        case .labelProbability: "label-probability"
        }
    }

    var reason: String {
        switch self {
        case .fixed(_, let reason), .dataAware(_, let reason), .labelProbability(_, let reason): reason
        }
    }

    /// The base model a data-aware choice records input sketches with at install.
    var sketchingModel: LoadedBaseModel? {
        if case .dataAware(let model, _) = self { model } else { nil }
    }

    /// The evaluators of one plan over `inputs`: data-aware scores from each task's input sketch
    /// (made on first use, by `book`), falling back to weight-space when a task has none.
    func evaluators(for inputs: [ServedSetPlanner.Input], book: InputSketchBook) -> ServedSetPlanner.Evaluators {
        switch self {
        case .fixed(let evaluators, _):
            return evaluators
        case .dataAware(let model, _):
            let byName = Dictionary(inputs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            let evaluator = DataAwareEvaluator { task in
                guard let input = byName[task.name] else {
                    throw ClusteringError(.evaluatorFailed, "task '\(task.name)' is not in this plan")
                }
                return try book.sketch(of: input, adapter: task.adapter, model: model)
            }
            return .init(primary: evaluator, fallback: WeightSpaceEvaluator())
        case .labelProbability(let model, _):
            let byName = Dictionary(inputs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            let evaluator = LabelProbabilityEvaluator(sketcher: model.sketcher) { task in
                guard let input = byName[task.name] else {
                    throw ClusteringError(.evaluatorFailed, "task '\(task.name)' is not in this plan")
                }
                return try input.examples()
            }
            return .init(primary: evaluator, fallback: WeightSpaceEvaluator())
        }
    }
}
