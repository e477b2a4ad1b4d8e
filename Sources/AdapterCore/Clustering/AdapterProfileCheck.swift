/// Checks that adapters share one base-model profile: the same `base_model_name_or_path` and the same
/// adapted modules with the same (in, out) shapes. Only such adapters are compared, clustered or merged.
enum AdapterProfileCheck {
    /// The module layout of an adapter: module name → (in, out), plus its base model.
    struct Layout: Equatable {
        var baseModel: String?
        var shapes: [String: Shape]
    }

    struct Shape: Equatable {
        var inFeatures: Int
        var outFeatures: Int
    }

    static func layout(of adapter: LoRAAdapter) -> Layout {
        var shapes: [String: Shape] = [:]
        for module in adapter.modules {
            shapes[module.name] = Shape(inFeatures: module.inFeatures, outFeatures: module.outFeatures)
        }
        return Layout(baseModel: adapter.config.baseModelNameOrPath, shapes: shapes)
    }

    /// Whether every adapter has the first one's base model and module shapes.
    static func sameProfile(_ adapters: [LoRAAdapter]) -> Bool {
        guard let first = adapters.first else { return true }
        let reference = layout(of: first)
        return adapters.dropFirst().allSatisfy { layout(of: $0) == reference }
    }

    /// Throws `profileMismatch` naming the first adapter that differs from the first one.
    static func requireSameProfile(_ adapters: [LoRAAdapter], names: [String]) throws {
        guard let first = adapters.first else { return }
        let reference = layout(of: first)
        let firstName = names.first ?? "#0"
        for (index, adapter) in adapters.enumerated().dropFirst() {
            let name = index < names.count ? names[index] : "#\(index)"
            let other = layout(of: adapter)
            if other.baseModel != reference.baseModel {
                throw ClusteringError(.profileMismatch,
                    "task '\(name)' adapts base model '\(other.baseModel ?? "(none)")' but task '\(firstName)' "
                    + "adapts '\(reference.baseModel ?? "(none)")'; only adapters of one base model are compared")
            }
            if other.shapes != reference.shapes {
                let missing = Set(reference.shapes.keys).symmetricDifference(other.shapes.keys).sorted()
                if let module = missing.first {
                    throw ClusteringError(.profileMismatch,
                        "tasks '\(firstName)' and '\(name)' adapt different modules (e.g. '\(module)'); "
                        + "only adapters with the same modules are compared")
                }
                for (module, shape) in reference.shapes.sorted(by: { $0.key < $1.key })
                where other.shapes[module] != shape {
                    let o = other.shapes[module] ?? shape
                    throw ClusteringError(.profileMismatch,
                        "module '\(module)' is \(shape.outFeatures)×\(shape.inFeatures) in task '\(firstName)' "
                        + "but \(o.outFeatures)×\(o.inFeatures) in task '\(name)'; only adapters of one "
                        + "base-model profile are compared")
                }
            }
        }
    }
}
