/// The default cluster merge: Σ wᵢ ΔWᵢ truncated to the target rank by the factored SVD of
/// `AdapterMerger` (`MergeMethod.svd`, Eckart–Young optimal, never forms out × in). Every module of the
/// result has exactly the target rank, so its file size is what the budget planner predicted.
public struct SVDClusterMerger: ClusterMerging {
    /// The dtype the merged adapter will be written in (sets its `tensorBytes`).
    public let storageDType: DType

    public var name: String { "svd" }

    public init(storageDType: DType = .f16) { self.storageDType = storageDType }

    public func merge(_ adapters: [LoRAAdapter], weights: [Double], rank: Int) throws -> LoRAAdapter {
        try AdapterMerger.merge(adapters, weights: weights, method: .svd(rank: rank), storageDType: storageDType)
    }
}
