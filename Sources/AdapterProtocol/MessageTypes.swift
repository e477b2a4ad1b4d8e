/// Byte budget of the served set. Sizes are bytes of adapter files.
public struct BudgetStatus: Codable, Sendable, Hashable {
    /// The limit (JSON `limitBytes`, absent when unlimited).
    public var limit: Budget
    /// Bytes of the current generation's adapter files.
    public var servedBytes: Int64
    /// Bytes of the stored originals of installed tasks (kept for re-clustering), not counted in the budget.
    public var archiveBytes: Int64
    /// Where the limit comes from: `budget.set` (set at run time, kept across restarts), `--budget`
    /// (adapterd's flag, the initial budget) or `configuration` (the configuration file, or the default).
    /// Absent from daemons before it.
    public var source: String?

    public init(limit: Budget, servedBytes: Int64, archiveBytes: Int64, source: String? = nil) {
        self.limit = limit
        self.servedBytes = servedBytes
        self.archiveBytes = archiveBytes
        self.source = source
    }

    enum CodingKeys: String, CodingKey {
        case limit = "limitBytes", servedBytes, archiveBytes, source
    }
}

/// The detector's contribution of one signature feature to a verdict.
public struct VerdictFeature: Codable, Sendable, Hashable {
    /// e.g. `q.kurtosis`.
    public var name: String
    /// The feature value (after standardisation, when the model standardises).
    public var value: Double
    /// Its additive contribution to the score's logit.
    public var contribution: Double

    public init(name: String, value: Double, contribution: Double) {
        self.name = name
        self.value = value
        self.contribution = contribution
    }
}

/// The detector's decision about an adapter.
public struct VerdictInfo: Codable, Sendable, Hashable {
    /// `benign`, `poisoned` or `out-of-distribution`.
    public var decision: String
    /// Probability that the adapter is poisoned, 0…1.
    public var score: Double
    /// Scores at or above it are refused as poisoned.
    public var threshold: Double
    /// Largest contributions first.
    public var topFeatures: [VerdictFeature]
    /// The detector model that decided.
    public var model: String
    /// What else decided or was noted, in order: the behavioural evidence (`behaviour: inserting 'tq'
    /// moved …`), or why behaviour was not screened. Absent when there is nothing to say, from daemons
    /// before it, and in stored verdicts.
    public var reasons: [String]?

    public init(decision: String, score: Double, threshold: Double, topFeatures: [VerdictFeature], model: String,
                reasons: [String]? = nil) {
        self.decision = decision
        self.score = score
        self.threshold = threshold
        self.topFeatures = topFeatures
        self.model = model
        self.reasons = reasons
    }
}

/// Identity of the connected client as the daemon sees it (SO_PEERCRED).
public struct PeerInfo: Codable, Sendable, Hashable {
    public var uid: UInt32
    public var gid: UInt32
    public var pid: Int32
    /// Whether this peer may call mutating methods.
    public var mayMutate: Bool

    public init(uid: UInt32, gid: UInt32, pid: Int32, mayMutate: Bool) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
        self.mayMutate = mayMutate
    }
}

/// Result of `status`.
public struct StatusResult: Codable, Sendable, Hashable {
    public var daemon: String
    public var version: String
    public var protocolVersion: Int
    public var pid: Int32
    public var uptimeSeconds: Double
    /// Whether the listening socket came from systemd socket activation.
    public var socketActivated: Bool
    public var tasks: Int
    /// Number of the current served generation (0 before the first install).
    public var generation: Int64
    public var budget: BudgetStatus
    public var quarantined: Int
    /// The embedder `route.text` uses and how many tasks it indexes (absent from daemons before route.text).
    public var textRouting: TextRoutingInfo? = nil
    public var detector: DetectorInfo
    /// The evaluator re-clustering uses and why (absent from daemons before it was reported).
    public var evaluator: EvaluatorInfo? = nil
    public var peer: PeerInfo
    /// The current generation's served set: clusters, per-task retained quality, evaluator, last
    /// re-cluster (absent before the first generation).
    public var served: ServedSetInfo?
    /// Whether the daemon can change its state, and the stored objects found damaged (absent from
    /// daemons before it).
    public var storage: StorageStatus? = nil

    public init(daemon: String, version: String, protocolVersion: Int, pid: Int32, uptimeSeconds: Double,
                socketActivated: Bool, tasks: Int, generation: Int64, budget: BudgetStatus, quarantined: Int,
                detector: DetectorInfo, peer: PeerInfo, served: ServedSetInfo? = nil) {
        self.served = served
        self.daemon = daemon
        self.version = version
        self.protocolVersion = protocolVersion
        self.pid = pid
        self.uptimeSeconds = uptimeSeconds
        self.socketActivated = socketActivated
        self.tasks = tasks
        self.generation = generation
        self.budget = budget
        self.quarantined = quarantined
        self.detector = detector
        self.peer = peer
    }
}

/// The detector the daemon screens with.
public struct DetectorInfo: Codable, Sendable, Hashable {
    public var model: String
    public var threshold: Double
    /// Whether installs are also screened by their behaviour on the base model, and on what (e.g.
    /// `weights only: no behavioural screening (set base-model = DIR)`). Absent from daemons before it.
    public var behaviour: String?

    public init(model: String, threshold: Double, behaviour: String? = nil) {
        self.model = model
        self.threshold = threshold
        self.behaviour = behaviour
    }
}

/// Params of `install`. The adapter travels inline: the daemon never reads the client's files.
public struct InstallParams: Codable, Sendable, Hashable {
    /// Task name: 1–64 characters of `A–Z a–z 0–9 . _ -`, not starting with `.` or `-`.
    public var task: String
    /// The text of adapter_config.json.
    public var config: String
    /// adapter_model.safetensors, standard base64 (RFC 4648 §4, with padding).
    public var safetensors: String
    /// The task's few examples, JSON Lines text (one JSON object per line, in the shapes
    /// docs/PROTOCOL.md lists).
    public var examples: String
    /// Optional names of integer labels, by index (`adapterctl install --labels a,b,c`); absent
    /// keeps integer labels as their decimal strings unless the examples' metadata line names them.
    public var labels: [String]?

    public init(task: String, config: String, safetensors: String, examples: String, labels: [String]? = nil) {
        self.task = task
        self.config = config
        self.safetensors = safetensors
        self.examples = examples
        self.labels = labels
    }
}

/// Result of `install`: the adapter was accepted and is durably stored.
public struct InstallResult: Codable, Sendable, Hashable {
    public var task: String
    /// Version of the task this install created (1 for a new task).
    public var version: Int
    /// The version it replaced, if the task existed.
    public var replacedVersion: Int?
    /// sha256 of adapter_model.safetensors, lowercase hex.
    public var sha256: String
    /// Size of adapter_model.safetensors.
    public var bytes: Int64
    public var examples: Int
    public var verdict: VerdictInfo
    /// The generation that now serves the task.
    public var generation: Int64
    public var budget: BudgetStatus
    /// The task's retained quality in that generation and the evaluator that produced it (absent from
    /// daemons before the fields).
    public var retainedQuality: Double? = nil
    public var evaluator: String? = nil
    /// Where the install placed its task when it did not plan every task (`install-plan`), e.g. "with
    /// a, b at rank 8"; every task is then planned again in the background. Absent when every task was planned.
    public var placement: String? = nil

    public init(task: String, version: Int, replacedVersion: Int?, sha256: String, bytes: Int64, examples: Int,
                verdict: VerdictInfo, generation: Int64, budget: BudgetStatus) {
        self.task = task
        self.version = version
        self.replacedVersion = replacedVersion
        self.sha256 = sha256
        self.bytes = bytes
        self.examples = examples
        self.verdict = verdict
        self.generation = generation
        self.budget = budget
    }
}

/// `data` of a `refused` error: why the adapter was refused.
public struct RefusalDetails: Codable, Sendable, Hashable {
    public var task: String
    public var sha256: String
    public var verdict: VerdictInfo
    /// Id of the quarantine record.
    public var quarantineId: Int64

    public init(task: String, sha256: String, verdict: VerdictInfo, quarantineId: Int64) {
        self.task = task
        self.sha256 = sha256
        self.verdict = verdict
        self.quarantineId = quarantineId
    }
}

/// `data` of an `over budget` error.
public struct OverBudgetDetails: Codable, Sendable, Hashable {
    public var limitBytes: Int64
    public var servedBytes: Int64
    /// Bytes the served set would need with this change.
    public var requiredBytes: Int64

    public init(limitBytes: Int64, servedBytes: Int64, requiredBytes: Int64) {
        self.limitBytes = limitBytes
        self.servedBytes = servedBytes
        self.requiredBytes = requiredBytes
    }
}

/// `data` of a `too large` error.
public struct TooLargeDetails: Codable, Sendable, Hashable {
    public var limitBytes: Int64
    /// Size of what was refused, when known.
    public var actualBytes: Int64?

    public init(limitBytes: Int64, actualBytes: Int64?) {
        self.limitBytes = limitBytes
        self.actualBytes = actualBytes
    }
}

/// Params naming one task.
public struct TaskParams: Codable, Sendable, Hashable {
    public var task: String
    public init(task: String) { self.task = task }
}

/// One installed task.
public struct TaskSummary: Codable, Sendable, Hashable {
    public var task: String
    public var version: Int
    public var sha256: String
    public var bytes: Int64
    public var rank: Int
    public var baseModel: String?
    public var examples: Int
    /// RFC 3339 UTC time of the install.
    public var installedAt: String
    public var score: Double
    /// Id of the served adapter that serves this task (its sha256 for an own adapter).
    public var servedBy: String?

    public init(task: String, version: Int, sha256: String, bytes: Int64, rank: Int, baseModel: String?,
                examples: Int, installedAt: String, score: Double, servedBy: String?) {
        self.task = task
        self.version = version
        self.sha256 = sha256
        self.bytes = bytes
        self.rank = rank
        self.baseModel = baseModel
        self.examples = examples
        self.installedAt = installedAt
        self.score = score
        self.servedBy = servedBy
    }
}

/// Result of `list`.
public struct ListResult: Codable, Sendable, Hashable {
    public var tasks: [TaskSummary]
    public var generation: Int64
    public var budget: BudgetStatus

    public init(tasks: [TaskSummary], generation: Int64, budget: BudgetStatus) {
        self.tasks = tasks
        self.generation = generation
        self.budget = budget
    }
}

/// Result of `show`.
public struct TaskDetail: Codable, Sendable, Hashable {
    public var summary: TaskSummary
    public var verdict: VerdictInfo
    /// Storage dtype of the tensors (F32, F16, BF16).
    public var dtype: String
    /// `target_modules` of adapter_config.json.
    public var targetModules: [String]
    /// Hash of the base-model profile (base model + module shapes); only equal profiles are merged.
    public var profileHash: String
    /// Older versions of the task (replaced; never served again).
    public var previousVersions: [Int]
    /// The first few examples, as JSON text, one per entry.
    public var examplePreview: [String]

    public init(summary: TaskSummary, verdict: VerdictInfo, dtype: String, targetModules: [String],
                profileHash: String, previousVersions: [Int], examplePreview: [String]) {
        self.summary = summary
        self.verdict = verdict
        self.dtype = dtype
        self.targetModules = targetModules
        self.profileHash = profileHash
        self.previousVersions = previousVersions
        self.examplePreview = examplePreview
    }
}

/// Result of `remove`.
public struct RemoveResult: Codable, Sendable, Hashable {
    public var task: String
    public var version: Int
    public var generation: Int64
    public var budget: BudgetStatus

    public init(task: String, version: Int, generation: Int64, budget: BudgetStatus) {
        self.task = task
        self.version = version
        self.generation = generation
        self.budget = budget
    }
}

/// Params of `route`: exactly one of `task` or `text` (route by text is reserved for a later version
/// and currently answers `invalid params`).
public struct RouteParams: Codable, Sendable, Hashable {
    public var task: String?
    public var text: String?

    public init(task: String? = nil, text: String? = nil) {
        self.task = task
        self.text = text
    }
}

/// The adapter serving a route.
public struct ServedAdapter: Codable, Sendable, Hashable {
    /// Stable id of the served adapter (sha256 of its weights file).
    public var id: String
    /// `own` (the task's own adapter) or `merged` (a cluster's merged adapter).
    public var kind: String
    /// Tasks this adapter serves.
    public var tasks: [String]
    public var bytes: Int64
    /// Absolute paths of its files in the daemon's state directory (readable by the daemon's group).
    public var configPath: String?
    public var weightsPath: String?
    /// The cluster id: the served adapter's id in the catalog, unique across generations (`export` takes it).
    public var cluster: Int64?
    /// The PEFT directory holding both files (lives while its generation is current).
    public var directory: String?
    /// sha256 of adapter_model.safetensors (the same as `id`).
    public var sha256: String?
    /// Largest module rank.
    public var rank: Int?
    /// The scale to apply to B·A (lora_alpha / r of its config; 1 for merged adapters).
    public var scale: Double?

    public init(id: String, kind: String, tasks: [String], bytes: Int64, configPath: String?, weightsPath: String?,
                cluster: Int64? = nil, directory: String? = nil, sha256: String? = nil, rank: Int? = nil,
                scale: Double? = nil) {
        self.id = id
        self.kind = kind
        self.tasks = tasks
        self.bytes = bytes
        self.configPath = configPath
        self.weightsPath = weightsPath
        self.cluster = cluster
        self.directory = directory
        self.sha256 = sha256
        self.rank = rank
        self.scale = scale
    }
}

/// Result of `route`.
public struct RouteResult: Codable, Sendable, Hashable {
    public var task: String
    public var version: Int
    public var generation: Int64
    public var adapter: ServedAdapter
    /// score(serving adapter) / score(task's own adapter) as planned; 1 when served by its own adapter.
    public var retainedQuality: Double?
    /// The evaluator that scored `retainedQuality`.
    public var evaluator: String?

    public init(task: String, version: Int, generation: Int64, adapter: ServedAdapter,
                retainedQuality: Double? = nil, evaluator: String? = nil) {
        self.task = task
        self.version = version
        self.generation = generation
        self.adapter = adapter
        self.retainedQuality = retainedQuality
        self.evaluator = evaluator
    }
}

/// One refused adapter.
public struct QuarantineEntry: Codable, Sendable, Hashable {
    public var id: Int64
    public var task: String
    public var sha256: String
    public var bytes: Int64
    /// RFC 3339 UTC time of the refusal.
    public var time: String
    public var peerUid: UInt32
    public var verdict: VerdictInfo

    public init(id: Int64, task: String, sha256: String, bytes: Int64, time: String, peerUid: UInt32, verdict: VerdictInfo) {
        self.id = id
        self.task = task
        self.sha256 = sha256
        self.bytes = bytes
        self.time = time
        self.peerUid = peerUid
        self.verdict = verdict
    }
}

/// Result of `quarantine.list`, newest first.
public struct QuarantineListResult: Codable, Sendable, Hashable {
    public var entries: [QuarantineEntry]
    public init(entries: [QuarantineEntry]) { self.entries = entries }
}

/// Result of `config.get`: the effective settings.
public struct ConfigResult: Codable, Sendable, Hashable {
    public var configFile: String?
    public var socket: String
    public var stateDir: String
    /// The budget in force (JSON `budgetBytes`, absent when unlimited).
    public var budget: Budget
    /// The detector model file; absent for the built-in model.
    public var detectorModel: String?
    /// The `base-model` directory the daemon runs (absent: none, or a daemon before the setting).
    public var baseModel: String?
    public var detectorThreshold: Double?
    public var adminGroup: String?
    public var maxConnections: Int
    public var maxAdapterBytes: Int64
    public var maxFrameBytes: Int64
    public var maxReadOnlyFrameBytes: Int64
    public var idleTimeoutSeconds: Double
    /// The configured text embedder (`hashing` or `minilm`; status says which one is active).
    public var textEmbedder: String?
    /// The configured MiniLM model directory; absent means it is looked for in the default places.
    public var minilmDir: String?
    /// `weight-space` or `command` (configuration key `evaluator`).
    public var evaluator: String?
    /// The argv of `evaluator-command` (absent when none is configured).
    public var evaluatorCommand: [String]?
    public var evaluatorTimeoutSeconds: Double?

    public init(configFile: String?, socket: String, stateDir: String, budget: Budget, detectorModel: String?,
                detectorThreshold: Double?, adminGroup: String?, maxConnections: Int, maxAdapterBytes: Int64,
                maxFrameBytes: Int64, maxReadOnlyFrameBytes: Int64, idleTimeoutSeconds: Double,
                textEmbedder: String? = nil, minilmDir: String? = nil,
                evaluator: String? = nil, evaluatorCommand: [String]? = nil, evaluatorTimeoutSeconds: Double? = nil) {
        self.evaluator = evaluator
        self.evaluatorCommand = evaluatorCommand
        self.evaluatorTimeoutSeconds = evaluatorTimeoutSeconds
        self.configFile = configFile
        self.socket = socket
        self.stateDir = stateDir
        self.budget = budget
        self.detectorModel = detectorModel
        self.detectorThreshold = detectorThreshold
        self.adminGroup = adminGroup
        self.maxConnections = maxConnections
        self.maxAdapterBytes = maxAdapterBytes
        self.maxFrameBytes = maxFrameBytes
        self.maxReadOnlyFrameBytes = maxReadOnlyFrameBytes
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.textEmbedder = textEmbedder
        self.minilmDir = minilmDir
    }

    enum CodingKeys: String, CodingKey {
        case configFile, socket, stateDir, budget = "budgetBytes", detectorModel, baseModel, detectorThreshold,
             adminGroup, maxConnections, maxAdapterBytes, maxFrameBytes, maxReadOnlyFrameBytes, idleTimeoutSeconds,
             textEmbedder, minilmDir, evaluator, evaluatorCommand, evaluatorTimeoutSeconds
    }
}

/// Params of `budget.set`: the new budget, JSON `bytes`: the limit in bytes, or null for unlimited
/// (required, unlike the budget members of other messages, which leave an unlimited one out).
public struct BudgetSetParams: Codable, Sendable, Hashable {
    public var budget: Budget
    public init(budget: Budget) { self.budget = budget }

    enum CodingKeys: String, CodingKey { case budget = "bytes" }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        guard container.contains(.budget) else {
            throw DecodingError.keyNotFound(CodingKeys.budget, .init(
                codingPath: container.codingPath, debugDescription: "bytes is required (null for unlimited)"))
        }
        budget = try container.decodeIfPresent(Int64.self, forKey: .budget).map(Budget.bytes) ?? .unlimited
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch budget {
        case .bytes(let bytes): try container.encode(bytes, forKey: .budget)
        case .unlimited: try container.encodeNil(forKey: .budget)
        }
    }
}

/// Params of the `progress` notification.
public struct ProgressParams: Codable, Sendable, Hashable {
    /// The id of the request this progress belongs to.
    public var requestId: RPCID
    /// `received`, `validating`, `signature`, `screening`, `storing`, `planning`, `writing`, `done`.
    public var stage: String
    /// Completed fraction 0…1 of the whole operation.
    public var fraction: Double
    public var message: String

    public init(requestId: RPCID, stage: String, fraction: Double, message: String) {
        self.requestId = requestId
        self.stage = stage
        self.fraction = fraction
        self.message = message
    }
}
