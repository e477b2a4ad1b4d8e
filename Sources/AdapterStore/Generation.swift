import AdapterCore
import Foundation

/// Lifecycle of a generation: written while `building`, switched to `current` atomically (the previous
/// current one becomes `retired` in the same transaction). A building generation left by a crash is
/// deleted at the next open.
public enum GenerationState: String, Hashable, Sendable, Codable {
    case building
    case current
    case retired
}

/// Whether a served adapter is one task's own adapter or a merge of several.
public enum ServedAdapterKind: String, Hashable, Sendable, Codable {
    case own
    case merged
}

/// One adapter of a generation's served set (a cluster).
public struct ServedAdapter: Hashable, Sendable, Codable {
    /// Unique across generations, never reused.
    public var id: Int64
    public var generationID: Int64
    public var kind: ServedAdapterKind
    /// Names of the tasks merged into it (one for `own`).
    public var memberTasks: [String]
    public var configDigest: ContentDigest
    public var configBytes: Int
    public var weightsDigest: ContentDigest
    public var weightsBytes: Int
    /// configBytes + weightsBytes: what it costs against the budget.
    public var bytes: Int
    public var rank: Int
    /// The scale to apply (lora_alpha / r, or as the merge defines it).
    public var scale: Double
    /// A PEFT directory (adapter_config.json, adapter_model.safetensors) holding this adapter; it exists
    /// while the generation is building or current.
    public var directory: URL
}

/// One task → served adapter entry of a generation, with the quality the plan expects it to retain.
public struct GenerationRoute: Hashable, Sendable, Codable {
    public var generationID: Int64
    public var task: String
    public var servedAdapterID: Int64
    /// The task's original adapter (`InstalledAdapter.id`) the plan was made from.
    public var taskAdapterID: Int64
    /// score(served) / score(own), 1 for an own adapter.
    public var retainedQuality: Double
    /// False once the task was re-installed or removed after this generation was planned: such a
    /// route is never served (`AdapterStore.route(task:)` returns nil for it).
    public var servesInstalledVersion: Bool
}

/// A generation: an immutable served set plus its task routes.
public struct Generation: Hashable, Sendable, Codable {
    /// Increasing, never reused.
    public var id: Int64
    public var state: GenerationState
    public var createdAt: Date
    /// When it became current (nil while building).
    public var committedAt: Date?
    /// When it was replaced (nil unless retired).
    public var retiredAt: Date?
    /// The budget it was planned for; a generation over budget is never made current.
    public var budget: Budget
    /// Sum of its served adapters' bytes.
    public var bytesUsed: Int
    /// Name of the evaluator that scored the plan.
    public var evaluator: String
    /// The plan summary as the daemon encoded it (JSON); see `planSummary(as:)`.
    public var planSummaryJSON: String
    public var servedAdapters: [ServedAdapter]
    public var routes: [GenerationRoute]

    /// Decodes the plan summary the daemon stored with `beginGeneration`.
    public func planSummary<Summary: Decodable>(as type: Summary.Type) throws -> Summary {
        do {
            return try JSONDecoder().decode(Summary.self, from: Data(planSummaryJSON.utf8))
        } catch {
            throw StoreError(.invalidArgument, "generation \(id)'s plan summary does not decode as \(Summary.self): \(error)")
        }
    }

    /// Mean retained quality over the routes that serve installed versions (nil if there are none).
    public var meanRetainedQuality: Double? {
        let live = routes.filter(\.servesInstalledVersion)
        guard !live.isEmpty else { return nil }
        return live.map(\.retainedQuality).reduce(0, +) / Double(live.count)
    }
}

/// A served adapter to add to a generation being built.
public struct ServedAdapterDraft: Sendable {
    public var kind: ServedAdapterKind
    public var memberTasks: [String]
    /// The bytes of adapter_config.json.
    public var configJSON: Data
    /// The bytes of adapter_model.safetensors.
    public var weights: Data
    public var rank: Int
    public var scale: Double
    /// `ContentDigest.of(weights)` when the caller has computed it already: the store does not hash the
    /// weights again, and refuses them (`.digestMismatch`) if they are not what it names (`ObjectStore.put`).
    public var weightsDigest: ContentDigest?

    public init(kind: ServedAdapterKind, memberTasks: [String], configJSON: Data, weights: Data, rank: Int, scale: Double,
                weightsDigest: ContentDigest? = nil) {
        self.weightsDigest = weightsDigest
        self.kind = kind
        self.memberTasks = memberTasks
        self.configJSON = configJSON
        self.weights = weights
        self.rank = rank
        self.scale = scale
    }
}

/// A task → served adapter entry to commit with a generation.
public struct RouteDraft: Hashable, Sendable {
    public var task: String
    public var servedAdapterID: Int64
    /// The task's `InstalledAdapter.id` the plan was made from; the commit fails with `.planOutdated`
    /// if the task has been re-installed or removed since.
    public var taskAdapterID: Int64
    public var retainedQuality: Double

    public init(task: String, servedAdapterID: Int64, taskAdapterID: Int64, retainedQuality: Double) {
        self.task = task
        self.servedAdapterID = servedAdapterID
        self.taskAdapterID = taskAdapterID
        self.retainedQuality = retainedQuality
    }
}

/// The answer to "which adapter serves task T now?", from the current generation.
public struct Route: Hashable, Sendable, Codable {
    public var generationID: Int64
    public var task: String
    /// The installed version of the task this route serves (always the current one).
    public var taskVersion: Int
    public var servedAdapter: ServedAdapter
    public var retainedQuality: Double
}
