/// Merges a cluster with the data-aware (RegMean-style) merge, `RegMeanMerge`, beside the default
/// `SVDClusterMerger`: the update that best reproduces each member's own update on that member's
/// examples (through their `TaskInputSketch`es), truncated to the target rank under the same
/// objective. Every module of the result has exactly the target rank, so its size is what the budget
/// planner predicted. Members are recognised by their adapters' content (`SketchedMembers`).
public struct DataAwareClusterMerger: ClusterMerging {
    public let options: RegMeanMerge.Options
    /// The dtype the merged adapter will be written in (sets its `tensorBytes`).
    public let storageDType: DType
    let members: SketchedMembers

    public var name: String { "regmean" }

    /// `tasks`: every task whose adapter may be merged, with its sketch from `sketch`.
    public init(tasks: [TaskProfile], sketch: (TaskProfile) throws -> TaskInputSketch,
                options: RegMeanMerge.Options = RegMeanMerge.Options(), storageDType: DType = .f16) throws {
        self.init(members: try SketchedMembers(tasks: tasks, sketch: sketch), options: options, storageDType: storageDType)
    }

    init(members: SketchedMembers, options: RegMeanMerge.Options, storageDType: DType) {
        self.options = options
        self.storageDType = storageDType
        self.members = members
    }

    /// Sketches by task name.
    public init(tasks: [TaskProfile], sketches: [String: TaskInputSketch],
                options: RegMeanMerge.Options = RegMeanMerge.Options(), storageDType: DType = .f16) throws {
        try self.init(tasks: tasks, sketch: SketchedMembers.byName(sketches), options: options, storageDType: storageDType)
    }

    public func merge(_ adapters: [LoRAAdapter], weights: [Double], rank: Int) throws -> LoRAAdapter {
        let sketches = try members.members(of: adapters).map(\.sketch)
        return try RegMeanMerge.merge(adapters, sketches: sketches, weights: weights, rank: rank, options: options,
                                      storageDType: storageDType)
    }
}
