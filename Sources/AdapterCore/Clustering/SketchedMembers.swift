/// The tasks a data-aware merger may be asked to merge, found again from their adapters: a
/// `ClusterMerging` receives only adapters, so each is matched to its task by content fingerprint
/// (`AdapterFingerprint`), with the task's input sketch and prepared score reference. Tasks whose
/// adapters are identical share one entry (the first); merging an adapter that is no task's own
/// is refused (`ClusteringError.mergeFailed`).
struct SketchedMembers: Sendable {
    struct Member: Sendable {
        let task: TaskProfile
        let reference: DataAwareScore.Reference
        var sketch: TaskInputSketch { reference.sketch }
    }

    private let byFingerprint: [String: Member]

    init(tasks: [TaskProfile], sketch: (TaskProfile) throws -> TaskInputSketch) throws {
        try self.init(tasks: tasks) { task in try DataAwareScore.Reference(own: task.adapter, sketch: sketch(task)) }
    }

    /// With each task's prepared reference from `reference` (e.g. the one a `DataAwareEvaluator`
    /// already holds, so that a plan prepares each task once).
    init(tasks: [TaskProfile], reference: (TaskProfile) throws -> DataAwareScore.Reference) throws {
        var members: [String: Member] = [:]
        for task in tasks {
            let key = AdapterFingerprint.of(task.adapter)
            guard members[key] == nil else { continue }
            members[key] = Member(task: task, reference: try reference(task))
        }
        byFingerprint = members
    }

    func members(of adapters: [LoRAAdapter]) throws -> [Member] {
        try adapters.enumerated().map { i, adapter in
            guard let member = byFingerprint[AdapterFingerprint.of(adapter)] else {
                throw ClusteringError(.mergeFailed,
                    "adapter \(i) of the cluster is not the own adapter of a task with an input sketch; the data-aware merge needs each member's examples")
            }
            return member
        }
    }

    /// Looks sketches up by task name.
    static func byName(_ sketches: [String: TaskInputSketch]) -> (TaskProfile) throws -> TaskInputSketch {
        { task in
            guard let sketch = sketches[task.name] else {
                throw ClusteringError(.invalidArgument, "task '\(task.name)' has no input sketch")
            }
            return sketch
        }
    }
}
