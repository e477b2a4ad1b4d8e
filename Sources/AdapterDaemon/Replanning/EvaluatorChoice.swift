import AdapterCore

/// The evaluator re-clustering uses, as the settings and the base model make it, with the reason
/// status shows. The built-in ones read the tasks' examples or input sketches, so they are resolved
/// per plan.
enum EvaluatorChoice: Sendable {
    case fixed(ServedSetPlanner.Evaluators, reason: String)
    case dataAware(LoadedBaseModel, reason: String)
    case labelProbability(LoadedBaseModel, reason: String)
    /// `auto` on a model small enough to run per candidate: label-probability for a plan whose every
    /// task has a label head in its examples, else data-aware (input sketches are recorded at install).
    case labelProbabilityWhereLabelled(LoadedBaseModel, reason: String)

    /// The evaluator's name (`data-aware`, `label-probability`, `weight-space`, or the command's cached name).
    var name: String {
        switch self {
        case .fixed(let evaluators, _): evaluators.primary.name
        case .dataAware: "data-aware"
        case .labelProbability, .labelProbabilityWhereLabelled: "label-probability"
        }
    }

    var reason: String {
        switch self {
        case .fixed(_, let reason), .dataAware(_, let reason), .labelProbability(_, let reason),
             .labelProbabilityWhereLabelled(_, let reason): reason
        }
    }

    /// The base model a choice that may score data-aware records input sketches with at install.
    var sketchingModel: LoadedBaseModel? {
        switch self {
        case .dataAware(let model, _), .labelProbabilityWhereLabelled(let model, _): model
        case .fixed, .labelProbability: nil
        }
    }

    /// The evaluators of one plan over `inputs`: data-aware scores from each task's input sketch
    /// (made on first use, by `book`) or label probabilities on each task's examples, falling back to
    /// weight-space for a plan they cannot score.
    func evaluators(for inputs: [ServedSetPlanner.Input], book: InputSketchBook) -> ServedSetPlanner.Evaluators {
        switch self {
        case .fixed(let evaluators, _):
            return evaluators
        case .labelProbabilityWhereLabelled(let model, let reason):
            model.labelReferences.keep(only: inputs.map { ($0.name, $0.version) })
            let labelled = inputs.allSatisfy { input in
                model.labelReferences.hasHead(name: input.name, version: input.version) { try input.examples() }
            }
            return labelled ? Self.labelProbability(model, reason: reason).evaluators(for: inputs, book: book)
                            : Self.dataAware(model, reason: reason).evaluators(for: inputs, book: book)
        case .dataAware(let model, _):
            let input = Self.inputs(inputs)
            let evaluator = DataAwareEvaluator { task in
                try book.sketch(of: try input(task.name), adapter: task.adapter, model: model)
            }
            return .init(primary: evaluator, fallback: WeightSpaceEvaluator())
        case .labelProbability(let model, _):
            let input = Self.inputs(inputs)
            model.labelReferences.keep(only: inputs.map { ($0.name, $0.version) })
            let evaluator = LabelProbabilityEvaluator(sketcher: model.sketcher, references: model.labelReferences) { task in
                try input(task.name).examples()
            }
            return .init(primary: evaluator, fallback: WeightSpaceEvaluator())
        }
    }

    /// The plan's input of a task by name; an evaluator asked about another task fails.
    private static func inputs(_ inputs: [ServedSetPlanner.Input]) -> @Sendable (String) throws -> ServedSetPlanner.Input {
        let byName = Dictionary(inputs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        return { name in
            guard let input = byName[name] else {
                throw ClusteringError(.evaluatorFailed, "task '\(name)' is not in this plan")
            }
            return input
        }
    }
}
