/// The modules of a `FactoredLoRA` matched to the linear maps of one model, checked once per forward
/// pass: every module must name one of the model's adaptable linears (after the model's accepted
/// name prefixes are stripped) and have its input and output widths.
struct AdapterBinding: Sendable {
    static let none = AdapterBinding(modules: [:])

    /// What a module is checked against: the input and output widths of the linear map it adapts.
    struct Shape: Sendable {
        let inputs: Int
        let outputs: Int
    }

    private let modulesByLinear: [String: FactoredLoRA.Module]

    private init(modules: [String: FactoredLoRA.Module]) {
        modulesByLinear = modules
    }

    /// Binds `adapter` (nil: no adapter) to the linear maps whose shapes `linears` gives by name.
    /// `canonicalName` maps an adapter's module path to the model's name for it (e.g. drops a `bert.`
    /// prefix); `example` is shown when a name is unknown.
    init(_ adapter: FactoredLoRA?, linears: [String: Shape], example: String,
         canonicalName: (String) -> String) throws(ModelRuntimeError) {
        guard let adapter else {
            self = .none
            return
        }
        var bound: [String: FactoredLoRA.Module] = [:]
        for module in adapter.modules.values.sorted(by: { $0.name < $1.name }) {
            let name = canonicalName(module.name)
            guard let linear = linears[name] else {
                throw ModelRuntimeError(.invalidAdapter,
                    "adapter module '\(module.name)' is not an adaptable linear map of this model (they are named like '\(example)')")
            }
            guard module.inFeatures == linear.inputs, module.outFeatures == linear.outputs else {
                throw ModelRuntimeError(.invalidAdapter,
                    "adapter module '\(module.name)' maps \(module.inFeatures) → \(module.outFeatures) features; the model's '\(name)' maps \(linear.inputs) → \(linear.outputs)")
            }
            guard bound[name] == nil else {
                throw ModelRuntimeError(.invalidAdapter, "adapter modules '\(bound[name]!.name)' and '\(module.name)' both adapt '\(name)'")
            }
            bound[name] = module
        }
        self.init(modules: bound)
    }

    subscript(name: String) -> FactoredLoRA.Module? { modulesByLinear[name] }

    var isEmpty: Bool { modulesByLinear.isEmpty }
}
