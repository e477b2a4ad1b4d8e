import AdapterCore
import Foundation

/// What the daemon hands to `AdapterStore.installTask` for an accepted adapter: its two files as
/// bytes plus the facts it has already worked out about them.
public struct AdapterSubmission: Sendable {
    /// The bytes of adapter_config.json.
    public var configJSON: Data
    /// The bytes of adapter_model.safetensors.
    public var weights: Data
    /// LoRA rank r.
    public var rank: Int
    /// Storage dtype of the tensors.
    public var dtype: DType
    /// base_model_name_or_path.
    public var baseModel: String
    /// Hash of the base-model profile (base model + module → (in, out) shapes); only adapters with
    /// equal profile hashes are ever compared or merged.
    public var profileHash: String
    /// The spectral signature (20 values).
    public var signature: [Double]
    /// The detector's verdict (which accepted it).
    public var verdict: VerdictRecord
    /// `ContentDigest.of(weights)` when the caller has computed it already: the store does not hash the
    /// weights again, and refuses them (`.digestMismatch`) if they are not what it names (`ObjectStore.put`).
    public var weightsDigest: ContentDigest?

    public init(configJSON: Data, weights: Data, rank: Int, dtype: DType, baseModel: String,
                profileHash: String, signature: [Double], verdict: VerdictRecord, weightsDigest: ContentDigest? = nil) {
        self.weightsDigest = weightsDigest
        self.configJSON = configJSON
        self.weights = weights
        self.rank = rank
        self.dtype = dtype
        self.baseModel = baseModel
        self.profileHash = profileHash
        self.signature = signature
        self.verdict = verdict
    }
}

/// An installed original adapter (one version of one task), as recorded in the catalog.
public struct InstalledAdapter: Hashable, Sendable, Codable {
    /// Unique, never reused (also across removals), so it identifies this exact version.
    public var id: Int64
    public var task: String
    public var version: Int
    public var configDigest: ContentDigest
    public var configBytes: Int
    public var weightsDigest: ContentDigest
    public var weightsBytes: Int
    /// configBytes + weightsBytes.
    public var bytes: Int
    public var rank: Int
    public var dtype: DType
    public var baseModel: String
    public var profileHash: String
    public var signature: [Double]
    public var verdict: VerdictRecord
    public var installedAt: Date
    /// uid of the peer that installed it.
    public var installedBy: UInt32
}

/// A task as installed: its name, current version, examples and current original adapter.
public struct InstalledTask: Hashable, Sendable, Codable {
    public var name: String
    /// 1 for the first install; each re-install adds one. (A removed and re-installed task starts at 1
    /// again, but its adapter gets a fresh `adapter.id`.)
    public var version: Int
    /// When the task was first installed (kept across versions; `adapter.installedAt` is this version's time).
    public var createdAt: Date
    /// The examples (JSONL bytes) of this version.
    public var examplesDigest: ContentDigest
    public var examplesBytes: Int
    /// The current original adapter.
    public var adapter: InstalledAdapter
}
