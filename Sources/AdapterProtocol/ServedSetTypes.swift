/// Params of `recluster`: plan the served set again, for the budget in force or a new one.
public struct ReclusterParams: Codable, Sendable, Hashable {
    /// A new budget to plan for; nil keeps the budget in force. Unless `dryRun`, a given budget is
    /// stored like `budget.set` (so later installs keep to it). On the wire it is a byte count: absent
    /// or null is nil, so a new budget is always `.bytes` there (an unlimited one is `budget.set`'s, and
    /// encoding `.unlimited` here throws rather than send "keep the budget in force").
    public var budget: Budget?
    /// Plan only: nothing is written and nothing changes.
    public var dryRun: Bool

    public init(budget: Budget? = nil, dryRun: Bool = false) {
        self.budget = budget
        self.dryRun = dryRun
    }

    enum CodingKeys: String, CodingKey { case budget, dryRun }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        budget = try container.decodeIfPresent(Int64.self, forKey: .budget).map(Budget.bytes)
        dryRun = try container.decodeIfPresent(Bool.self, forKey: .dryRun) ?? false
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch budget {
        case nil: break
        case .bytes(let bytes)?: try container.encode(bytes, forKey: .budget)
        case .unlimited?:
            throw EncodingError.invalidValue(Budget.unlimited, .init(
                codingPath: container.codingPath + [CodingKeys.budget],
                debugDescription: "recluster cannot carry an unlimited budget; set it with budget.set"))
        }
        try container.encode(dryRun, forKey: .dryRun)
    }
}

/// One served adapter (a cluster) of a plan.
public struct PlanCluster: Codable, Sendable, Hashable {
    /// Position in the plan, 0-based.
    public var index: Int
    /// The cluster id once written into a generation (the served adapter's id, unique across
    /// generations; what `export` takes); nil in a dry run.
    public var id: Int64?
    /// `own` (a task's own adapter, by reference) or `merged`.
    public var kind: String
    public var tasks: [String]
    /// Largest module rank.
    public var rank: Int
    /// Bytes of its two files (adapter_config.json + adapter_model.safetensors).
    public var bytes: Int64
    /// sha256 of adapter_model.safetensors (known for own adapters, and for merged ones once written).
    public var sha256: String?
    /// Base model of its profile.
    public var baseModel: String?

    public init(index: Int, id: Int64?, kind: String, tasks: [String], rank: Int, bytes: Int64,
                sha256: String?, baseModel: String?) {
        self.index = index
        self.id = id
        self.kind = kind
        self.tasks = tasks
        self.rank = rank
        self.bytes = bytes
        self.sha256 = sha256
        self.baseModel = baseModel
    }
}

/// Where one task is served in a plan and the quality it keeps.
public struct PlanTask: Codable, Sendable, Hashable {
    public var task: String
    public var version: Int
    /// `PlanCluster.index` of its cluster.
    public var cluster: Int
    /// score(serving adapter) / score(task's own adapter); 1 for a task served by its own adapter.
    public var retainedQuality: Double
    /// The evaluator that produced `retainedQuality` (`weight-space`: the share of the update's energy
    /// the served adapter keeps, not a measured accuracy; `external:…`; `own-adapters`: 1 by definition).
    /// nil in plans written before the field existed.
    public var evaluator: String?

    public init(task: String, version: Int, cluster: Int, retainedQuality: Double, evaluator: String? = nil) {
        self.task = task
        self.version = version
        self.cluster = cluster
        self.retainedQuality = retainedQuality
        self.evaluator = evaluator
    }
}

/// Result of `recluster` (and the plan behind a generation): K, the clusters, bytes against the
/// budget, per-task retained quality and the evaluator that scored it.
public struct PlanResult: Codable, Sendable, Hashable {
    /// True when nothing was written (`dryRun`).
    public var dryRun: Bool
    /// The generation that serves this plan (nil in a dry run).
    public var generation: Int64?
    /// `own` (every task by its own adapter) or `clustered`.
    public var kind: String
    /// K: number of served adapters.
    public var clusterCount: Int
    public var clusters: [PlanCluster]
    public var tasks: [PlanTask]
    /// Σ bytes of the clusters.
    public var totalBytes: Int64
    /// The budget planned for (JSON `budgetBytes`, absent when unlimited).
    public var budget: Budget
    /// Σ bytes of every task's own adapter (what serving everything unmerged would take).
    public var ownTotalBytes: Int64
    /// dtype merged adapters are written in.
    public var dtype: String
    /// Evaluator that produced the retained qualities (`weight-space`, `external:…`, `own-adapters`).
    public var evaluator: String
    /// Set when the configured evaluator failed and the plan fell back to another one (the reason).
    public var evaluatorNote: String?
    /// Merge method of merged adapters (`svd`), nil when nothing is merged.
    public var merger: String?
    public var meanRetainedQuality: Double
    public var worstRetainedQuality: Double
    public var worstTask: String?
    /// Refinement rounds and evaluator calls (0 when nothing is merged).
    public var rounds: Int
    public var evaluations: Int
    /// Seconds the planning took.
    public var seconds: Double
    /// RFC 3339 UTC time the plan was made.
    public var plannedAt: String
    /// How the served set was chosen: `own-adapters`, `joint` (clusters and ranks of every group
    /// allocated under the one budget), `truncate-only` (no merging scored better) or `placed` (an
    /// install placed its task into the served set in force; every task is planned again in the
    /// background). nil in plans written before the field existed.
    public var policy: String?
    /// The evaluator's mean retained quality of the truncate-only plan at this budget, which the plan
    /// was compared with (nil when it does not fit or nothing had to be reduced).
    public var truncateOnlyMeanRetainedQuality: Double?

    public init(dryRun: Bool, generation: Int64?, kind: String, clusterCount: Int, clusters: [PlanCluster],
                tasks: [PlanTask], totalBytes: Int64, budget: Budget, ownTotalBytes: Int64, dtype: String,
                evaluator: String, evaluatorNote: String?, merger: String?, meanRetainedQuality: Double,
                worstRetainedQuality: Double, worstTask: String?, rounds: Int, evaluations: Int, seconds: Double,
                plannedAt: String) {
        self.dryRun = dryRun
        self.generation = generation
        self.kind = kind
        self.clusterCount = clusterCount
        self.clusters = clusters
        self.tasks = tasks
        self.totalBytes = totalBytes
        self.budget = budget
        self.ownTotalBytes = ownTotalBytes
        self.dtype = dtype
        self.evaluator = evaluator
        self.evaluatorNote = evaluatorNote
        self.merger = merger
        self.meanRetainedQuality = meanRetainedQuality
        self.worstRetainedQuality = worstRetainedQuality
        self.worstTask = worstTask
        self.rounds = rounds
        self.evaluations = evaluations
        self.seconds = seconds
        self.plannedAt = plannedAt
    }

    enum CodingKeys: String, CodingKey {
        case dryRun, generation, kind, clusterCount, clusters, tasks, totalBytes, budget = "budgetBytes", ownTotalBytes,
             dtype, evaluator, evaluatorNote, merger, meanRetainedQuality, worstRetainedQuality, worstTask, rounds,
             evaluations, seconds, plannedAt, policy, truncateOnlyMeanRetainedQuality
    }
}

/// The `policy` values (`PlanResult`, `ServedSetInfo`) of a served set installs placed their tasks into.
public enum PlacementPolicy {
    /// Installs placed their tasks; the plan of every task that follows in the background has not run.
    public static let placed = "placed"
    /// That plan ran and scored lower, so the placed set was written again unchanged.
    public static let placedKept = "placed-kept"
}

/// The evaluator the next re-cluster scores merges with, and why (`status`).
public struct EvaluatorInfo: Codable, Sendable, Hashable {
    /// `data-aware`, `weight-space` or the external command's name.
    public var name: String
    /// The configured `evaluator` and what decided it, e.g. "evaluator = auto; base model DIR (…)" or
    /// "evaluator = auto; no base-model is set, so merges are scored in weight space".
    public var reason: String

    public init(name: String, reason: String) {
        self.name = name
        self.reason = reason
    }
}

/// The served set of the current generation, as `status` reports it.
public struct ServedSetInfo: Codable, Sendable, Hashable {
    public var generation: Int64
    /// `own` or `clustered`.
    public var kind: String
    public var clusters: [PlanCluster]
    public var tasks: [PlanTask]
    public var meanRetainedQuality: Double?
    public var worstRetainedQuality: Double?
    public var worstTask: String?
    public var evaluator: String
    public var evaluatorNote: String?
    /// RFC 3339 UTC time the generation became current (the last re-cluster).
    public var lastReclusterAt: String?
    /// True while a re-cluster is being planned or written (the generation above keeps serving).
    public var reclustering: Bool
    /// How the served set was chosen (`PlanResult.policy`): `placed` when installs placed their tasks
    /// into it and the plan of every task that follows in the background has not run yet; nil for
    /// generations planned before the field existed.
    public var policy: String? = nil

    public init(generation: Int64, kind: String, clusters: [PlanCluster], tasks: [PlanTask],
                meanRetainedQuality: Double?, worstRetainedQuality: Double?, worstTask: String?, evaluator: String,
                evaluatorNote: String?, lastReclusterAt: String?, reclustering: Bool) {
        self.generation = generation
        self.kind = kind
        self.clusters = clusters
        self.tasks = tasks
        self.meanRetainedQuality = meanRetainedQuality
        self.worstRetainedQuality = worstRetainedQuality
        self.worstTask = worstTask
        self.evaluator = evaluator
        self.evaluatorNote = evaluatorNote
        self.lastReclusterAt = lastReclusterAt
        self.reclustering = reclustering
    }
}

/// Params of `export`: a cluster of the current generation by id, or the cluster serving a task.
public struct ExportParams: Codable, Sendable, Hashable {
    public var cluster: Int64?
    public var task: String?

    public init(cluster: Int64? = nil, task: String? = nil) {
        self.cluster = cluster
        self.task = task
    }
}

/// Result of `export`: a served adapter's two files, carried like `install`'s.
public struct ExportResult: Codable, Sendable, Hashable {
    public var cluster: Int64
    public var generation: Int64
    /// `own` or `merged`.
    public var kind: String
    public var tasks: [String]
    /// sha256 of adapter_model.safetensors.
    public var sha256: String
    /// The scale PEFT applies (lora_alpha / r of the config).
    public var scale: Double
    /// The text of adapter_config.json.
    public var config: String
    /// adapter_model.safetensors, standard base64 with padding.
    public var safetensors: String

    public init(cluster: Int64, generation: Int64, kind: String, tasks: [String], sha256: String, scale: Double,
                config: String, safetensors: String) {
        self.cluster = cluster
        self.generation = generation
        self.kind = kind
        self.tasks = tasks
        self.sha256 = sha256
        self.scale = scale
        self.config = config
        self.safetensors = safetensors
    }
}
