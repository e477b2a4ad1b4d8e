/// Brings adapters of one base model that adapt different sets of modules (e.g. query+value and
/// query+key+value+output) to one profile: every adapter gets every module of the union, a module it
/// does not adapt as an exact zero update (rank 1, A = 0, B = 0, scale 1). Nothing changes
/// numerically: ΔW of a missing module is zero either way, which is also how `AdapterMerger` treats it,
/// so similarities, merges and weight-space scores are those of the original adapters.
///
/// Config, storage dtype and `tensorBytes` are kept (the padding is never written as the task's own
/// file). Modules keep their order; the missing ones follow in the order they first appear across the
/// adapters, so the result does not depend on which adapter had them.
public enum ModuleUnionPadding {
    /// The adapters padded to the union of their modules.
    /// - Throws: `ClusteringError.profileMismatch` when the base models differ, or a module name has
    ///   different shapes in two adapters; `invalidArgument` when the counts differ or a part of a
    ///   fused module (`name#part`, parts share one A) is missing from some adapter.
    public static func pad(_ adapters: [LoRAAdapter], names: [String]) throws -> [LoRAAdapter] {
        guard names.count == adapters.count else {
            throw ClusteringError(.invalidArgument, "\(names.count) task names for \(adapters.count) adapters")
        }
        guard let first = adapters.first else { return [] }
        var order: [String] = []
        var donor: [String: (module: LoRAModule, task: String)] = [:]
        for (index, adapter) in adapters.enumerated() {
            if adapter.config.baseModelNameOrPath != first.config.baseModelNameOrPath {
                throw ClusteringError(.profileMismatch,
                    "task '\(names[index])' adapts base model '\(adapter.config.baseModelNameOrPath ?? "(none)")' "
                    + "but task '\(names[0])' adapts '\(first.config.baseModelNameOrPath ?? "(none)")'; "
                    + "only adapters of one base model are compared")
            }
            for module in adapter.modules {
                if let known = donor[module.name] {
                    if known.module.inFeatures != module.inFeatures || known.module.outFeatures != module.outFeatures {
                        throw ClusteringError(.profileMismatch,
                            "module '\(module.name)' is \(known.module.outFeatures)×\(known.module.inFeatures) in "
                            + "task '\(known.task)' but \(module.outFeatures)×\(module.inFeatures) in task "
                            + "'\(names[index])'; only adapters of one base-model profile are compared")
                    }
                } else {
                    donor[module.name] = (module, names[index])
                    order.append(module.name)
                }
            }
        }
        return try adapters.enumerated().map { index, adapter in
            let present = Set(adapter.modules.map(\.name))
            let missing = order.filter { !present.contains($0) }
            if missing.isEmpty { return adapter }
            if let fused = missing.first(where: { $0.contains("#") }) {
                throw ClusteringError(.invalidArgument,
                    "task '\(names[index])' does not adapt '\(fused)', a part of a fused module; fused "
                    + "modules must be adapted by every task to be compared")
            }
            let zeros = missing.compactMap { name -> LoRAModule? in
                guard let template = donor[name]?.module else { return nil }
                return LoRAModule(name: name, layer: template.layer, projection: template.projection,
                                  a: Matrix(zeros: 1, template.inFeatures), b: Matrix(zeros: template.outFeatures, 1),
                                  scale: 1)
            }
            return LoRAAdapter(config: adapter.config, modules: adapter.modules + zeros,
                               architecture: adapter.architecture, storageDType: adapter.storageDType,
                               tensorBytes: adapter.tensorBytes)
        }
    }

    /// The tasks with their adapters padded to the union of their modules (examples, versions and
    /// own bytes unchanged).
    public static func pad(_ tasks: [TaskProfile]) throws -> [TaskProfile] {
        let padded = try pad(tasks.map(\.adapter), names: tasks.map(\.name))
        return zip(tasks, padded).map { task, adapter in
            TaskProfile(name: task.name, version: task.version, adapter: adapter, examples: task.examples,
                        examplesFile: task.examplesFile, ownBytes: task.ownBytes)
        }
    }
}
