/// Decides how many served adapters fit a byte budget and at which rank merged ones are written.
///
/// The budget is bytes of the served set on disk. A merged adapter's size follows from its rank, the
/// profile's modules and the output dtype (the `sizer`, the exact size of the file that is written).
/// - If every task's own adapter fits, each task is served by its own (K = N).
/// - Otherwise K = ⌊budget / size(merged at rank r)⌋ (at most N) clusters at the merged rank r
///   (the largest own rank unless given). Any K clusters then fit whatever the assignment, because a
///   singleton cluster is served by its own adapter only when that does not break the budget
///   (`allocate`), and by a merged (re-encoded) copy otherwise.
/// - If not even one adapter fits at rank r, the rank is lowered to the largest that fits (K = 1);
///   below `minimumRank` the request is refused with `budgetTooSmall`.
public struct BudgetPlanner: Sendable {
    /// Exact bytes on disk of an adapter written in a dtype (PEFT directory: config + weights).
    public typealias Sizer = @Sendable (_ adapter: LoRAAdapter, _ dtype: DType) throws -> Int

    /// The size of the PEFT directory `PEFTAdapterWriter` writes (adapter_config.json + safetensors).
    public static let peftDirectorySize: Sizer = { adapter, dtype in try PEFTAdapterWriter.byteSize(adapter, dtype: dtype) }

    /// One adapted module of the profile: its name and (in, out) shape.
    public struct ModuleShape: Sendable, Hashable {
        public let name: String
        public let inFeatures: Int
        public let outFeatures: Int

        public init(name: String, inFeatures: Int, outFeatures: Int) {
            self.name = name
            self.inFeatures = inFeatures
            self.outFeatures = outFeatures
        }

        /// The module shapes of an adapter, in its module order.
        public static func of(_ adapter: LoRAAdapter) -> [ModuleShape] {
            adapter.modules.map { ModuleShape(name: $0.name, inFeatures: $0.inFeatures, outFeatures: $0.outFeatures) }
        }
    }

    /// A task as the planner sees it.
    public struct TaskSize: Sendable, Hashable {
        public let name: String
        /// Bytes of the task's own adapter as stored.
        public let ownBytes: Int
        /// The task's own rank (largest module rank).
        public let rank: Int

        public init(name: String, ownBytes: Int, rank: Int) {
            self.name = name
            self.ownBytes = ownBytes
            self.rank = rank
        }
    }

    /// What fits: every own adapter, or K clusters with merged adapters at one rank.
    public struct Decision: Sendable, Hashable {
        public enum Kind: String, Sendable, Hashable {
            /// Every task is served by its own adapter.
            case ownAdapters
            /// Tasks are grouped into `clusterCount` clusters.
            case clustered
        }

        public let kind: Kind
        /// K: the number of served adapters.
        public let clusterCount: Int
        /// Rank of merged adapters (0 when nothing is merged).
        public let mergedRank: Int
        /// Bytes of one merged adapter at `mergedRank` (0 when nothing is merged).
        public let mergedBytes: Int
        /// Σ of the tasks' own adapter bytes (storing everything).
        public let ownTotalBytes: Int
        public let budget: Int
        public let dtype: DType
    }

    /// How one cluster is served under a decision.
    public struct Serving: Sendable, Hashable {
        /// Task indices of the cluster's members.
        public let members: [Int]
        /// True when a singleton is served by its own adapter file.
        public let usesOwnAdapter: Bool
        public let bytes: Int
    }

    public let modules: [ModuleShape]
    public let dtype: DType
    public let minimumRank: Int
    /// Configuration of a merged adapter apart from its rank (base model, target modules, …).
    public let baseConfig: PEFTConfig
    public let architecture: ArchitectureFamily
    private let sizer: Sizer

    /// - Parameters:
    ///   - modules: the profile's modules, in the order a merged adapter has them.
    ///   - baseConfig: the configuration merged adapters get (its r and lora_alpha are replaced by the
    ///     merged rank, scale 1), so the size of its adapter_config.json is counted too.
    public init(modules: [ModuleShape], baseConfig: PEFTConfig, architecture: ArchitectureFamily = .unknown,
                dtype: DType = .f16, minimumRank: Int = 1, sizer: @escaping Sizer = BudgetPlanner.peftDirectorySize) {
        self.modules = modules
        self.baseConfig = baseConfig
        self.architecture = architecture
        self.dtype = dtype
        self.minimumRank = max(1, minimumRank)
        self.sizer = sizer
    }

    /// A planner for these tasks' profile: modules of the first task, merged configuration as a merge
    /// of them gets it (base model, union of target modules, scale 1).
    public init(tasks: [TaskProfile], dtype: DType = .f16, minimumRank: Int = 1,
                sizer: @escaping Sizer = BudgetPlanner.peftDirectorySize) throws {
        guard let first = tasks.first?.adapter else {
            throw ClusteringError(.invalidArgument, "there are no tasks to plan for")
        }
        try AdapterProfileCheck.requireSameProfile(tasks.map(\.adapter), names: tasks.map(\.name))
        let targets = Set(tasks.flatMap { $0.adapter.config.targetModules }).sorted()
        let config = PEFTConfig(
            peftType: "LORA", baseModelNameOrPath: first.config.baseModelNameOrPath, r: 1, loraAlpha: 1,
            useRSLoRA: false, fanInFanOut: first.config.fanInFanOut, targetModules: targets,
            taskType: first.config.taskType)
        self.init(modules: ModuleShape.of(first), baseConfig: config, architecture: first.architecture,
                  dtype: dtype, minimumRank: minimumRank, sizer: sizer)
    }

    /// An all-zero adapter of this profile at `rank` (scale 1): what the sizer measures. Factors of one
    /// size share one zero array (copy-on-write), so a 3B-shaped template takes a few MB, not 88.
    public func template(rank: Int) -> LoRAAdapter {
        var config = baseConfig
        config.r = rank
        config.loraAlpha = Double(rank)
        var zeros: [Int: [Double]] = [:]
        func zero(_ rows: Int, _ cols: Int) -> Matrix {
            let count = rows * cols
            if zeros[count] == nil { zeros[count] = [Double](repeating: 0, count: count) }
            return Matrix(rows: rows, cols: cols, elements: zeros[count]!)
        }
        let modules = modules.map { shape in
            LoRAModule(name: shape.name, layer: nil, projection: nil, a: zero(rank, shape.inFeatures),
                       b: zero(shape.outFeatures, rank), scale: 1)
        }
        let bytes = modules.reduce(0) { $0 + $1.factorElementCount * dtype.byteSize }
        return LoRAAdapter(config: config, modules: modules, architecture: architecture, storageDType: dtype,
                           tensorBytes: bytes)
    }

    /// The all-zero adapter at `rank` of only the modules named in `keeping` (a merge whose members
    /// leave the others at exactly zero), with `targetModules` as its target modules.
    public func template(rank: Int, keeping: Set<String>, targetModules: [String]) -> LoRAAdapter {
        let full = template(rank: rank)
        var config = full.config
        config.targetModules = targetModules
        let modules = full.modules.filter { keeping.contains($0.name) }
        let bytes = modules.reduce(0) { $0 + $1.factorElementCount * dtype.byteSize }
        return LoRAAdapter(config: config, modules: modules, architecture: architecture, storageDType: dtype,
                           tensorBytes: bytes)
    }

    /// Bytes of a merged adapter at `rank` holding only the modules in `keeping`.
    public func mergedBytes(rank: Int, keeping: Set<String>, targetModules: [String]) throws -> Int {
        guard rank >= 1 else { throw ClusteringError(.invalidArgument, "a merged adapter needs rank ≥ 1") }
        return try sizer(template(rank: rank, keeping: keeping, targetModules: targetModules), dtype)
    }

    /// Bytes of one merged adapter of this profile at `rank` in the planner's dtype.
    public func mergedBytes(rank: Int) throws -> Int {
        guard rank >= 1 else { throw ClusteringError(.invalidArgument, "a merged adapter needs rank ≥ 1") }
        return try sizer(template(rank: rank), dtype)
    }

    /// Bytes of a given adapter written in the planner's dtype.
    public func bytes(of adapter: LoRAAdapter) throws -> Int { try sizer(adapter, dtype) }

    /// Chooses K and the merged rank for these tasks under `budget` bytes.
    /// - Parameter mergedRank: rank of merged adapters; default the largest own rank.
    public func decide(tasks: [TaskSize], budget: Int, mergedRank: Int? = nil) throws -> Decision {
        guard !tasks.isEmpty else { throw ClusteringError(.invalidArgument, "there are no tasks to plan for") }
        guard budget >= 0 else { throw ClusteringError(.invalidArgument, "the budget must not be negative") }
        guard tasks.allSatisfy({ $0.ownBytes >= 0 && $0.rank >= 1 }) else {
            throw ClusteringError(.invalidArgument, "every task needs a rank ≥ 1 and a non-negative size")
        }
        guard let ownTotal = tasks.lazy.map(\.ownBytes).checkedSum() else {
            throw ClusteringError(.invalidArgument, "the tasks' sizes overflow")
        }
        if ownTotal <= budget {
            return Decision(kind: .ownAdapters, clusterCount: tasks.count, mergedRank: 0, mergedBytes: 0,
                            ownTotalBytes: ownTotal, budget: budget, dtype: dtype)
        }
        var rank = max(minimumRank, mergedRank ?? tasks.map(\.rank).max()!)
        var size = try mergedBytes(rank: rank)
        while size > budget && rank > minimumRank {
            rank -= 1
            size = try mergedBytes(rank: rank)
        }
        guard size <= budget, size > 0 else {
            throw ClusteringError(.budgetTooSmall,
                "a budget of \(Self.format(bytes: budget)) cannot hold even one merged adapter: at rank "
                + "\(rank) in \(dtype.rawValue) it takes \(Self.format(bytes: size)) (storing every task's own "
                + "adapter takes \(Self.format(bytes: ownTotal)))")
        }
        let k = min(tasks.count, budget / size)
        return Decision(kind: .clustered, clusterCount: k, mergedRank: rank, mergedBytes: size,
                        ownTotalBytes: ownTotal, budget: budget, dtype: dtype)
    }

    /// Decides for each cluster whether it is served by a merged adapter or (singletons) by the
    /// task's own file, keeping the total within the budget: singletons whose own file is no larger
    /// than a merged one always use it, larger ones while the remaining budget allows (cheapest first).
    public func allocate(clusters: [[Int]], tasks: [TaskSize], decision: Decision) throws -> [Serving] {
        if decision.kind == .ownAdapters {
            return clusters.map { members in
                Serving(members: members, usesOwnAdapter: members.count == 1,
                        bytes: members.reduce(0) { $0 + tasks[$1].ownBytes })
            }
        }
        guard clusters.count <= decision.clusterCount else {
            throw ClusteringError(.invalidArgument,
                "\(clusters.count) clusters were given but the budget holds \(decision.clusterCount)")
        }
        var useOwn = [Bool](repeating: false, count: clusters.count)
        var total = clusters.count * decision.mergedBytes
        let singletons = clusters.indices.filter { clusters[$0].count == 1 }
            .sorted { tasks[clusters[$0][0]].ownBytes < tasks[clusters[$1][0]].ownBytes }
        for c in singletons {
            let extra = tasks[clusters[c][0]].ownBytes - decision.mergedBytes
            if total + extra <= decision.budget {
                useOwn[c] = true
                total += extra
            }
        }
        return clusters.indices.map { c in
            Serving(members: clusters[c], usesOwnAdapter: useOwn[c],
                    bytes: useOwn[c] ? tasks[clusters[c][0]].ownBytes : decision.mergedBytes)
        }
    }

    /// "1.5 MiB (1572864 bytes)" (`ByteSize.formatWithCount`, for the planners' byte counts).
    static func format(bytes: Int) -> String { ByteSize.formatWithCount(Int64(bytes)) }
}
