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

    /// The same merge of the tasks `members` of `grams` (`adapters[i]` is task `members[i]`), each
    /// module's Grams read from the blocks `grams` keeps instead of computed by dsyrk again.
    public func merge(_ adapters: [LoRAAdapter], weights: [Double], rank: Int, grams: FactorGrams?,
                      members: [Int]) throws -> LoRAAdapter {
        guard let grams else { return try merge(adapters, weights: weights, rank: rank) }
        return try merge(adapters, weights: weights, rank: rank, grams: grams, members: members, truncations: nil)
    }

    /// The same merge, and with `truncations` written from the truncation factors a rank curve of these
    /// adapters, weights and Grams computed (`RankQualityCurve.computeKeepingTruncations`; by module index
    /// of `adapters[0]`) instead of factoring each core again; they are used only when every module's
    /// hold `rank`, and a module without them is merged from its Grams.
    func merge(_ adapters: [LoRAAdapter], weights: [Double], rank: Int, grams: FactorGrams, members: [Int],
               truncations: [TruncationFactors?]?) throws -> LoRAAdapter {
        guard adapters.count == members.count, let first = adapters.first else {
            return try merge(adapters, weights: weights, rank: rank)
        }
        let index = Dictionary(first.modules.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        let usable = truncations.flatMap { all in
            all.count == first.modules.count && all.allSatisfy({ $0?.covers(rank: rank) ?? true }) ? all : nil
        }
        return try AdapterMerger.merge(adapters, weights: weights, method: .svd(rank: rank), storageDType: storageDType,
                                       unitGrams: { name in index[name].map { grams.grams(module: $0, members: members) } },
                                       unitTruncations: usable.map { all in { name in index[name].flatMap { all[$0] } } })
    }
}
