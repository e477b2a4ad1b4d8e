extension TaskSimilarity {
    /// The similarity the planners work with: `given` when a caller computed it already (it must be
    /// for exactly `tasks`, in their order, and they must share one base-model profile), else computed
    /// here, reported as the first progress step, its Gram blocks kept in `keeping` (the tasks'
    /// `FactorGrams`, for the curves that follow).
    static func of(_ tasks: [TaskProfile], given: TaskSimilarity?, progress: ClusterRefiner.Progress?,
                   keeping grams: FactorGrams? = nil) throws -> TaskSimilarity {
        let names = tasks.map(\.name)
        if let given {
            guard given.names == names else {
                throw ClusteringError(.invalidArgument, "the similarity matrix is for other tasks")
            }
            try AdapterProfileCheck.requireSameProfile(tasks.map(\.adapter), names: names)
            return given
        }
        progress?(0, "similarity of \(tasks.count) tasks")
        return try TaskSimilarity.compute(names: names, adapters: tasks.map(\.adapter), keeping: grams)
    }
}
