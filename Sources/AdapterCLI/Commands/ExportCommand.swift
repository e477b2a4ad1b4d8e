import AdapterCore
import AdapterProtocol
import ArgumentParser
import Crypto
import Foundation

/// `adapterctl export CLUSTER DIR`: writes a served adapter (a cluster's merged adapter, or a task's
/// own) of the current generation as a PEFT LoRA directory, or with `--format gguf` as one GGUF LoRA
/// adapter file for llama.cpp (converted here, from the PEFT files the daemon sends).
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a served adapter (cluster) as a PEFT directory or a GGUF LoRA file.",
        discussion: """
            CLUSTER is a cluster id of the current generation (`adapterctl status` or `route` shows them); \
            with --task, the cluster serving that task. With --format peft (the default) DIR must not exist \
            or be empty; it receives adapter_config.json and adapter_model.safetensors (sha256 checked). \
            With --format gguf the target is a FILE that must not exist: a GGUF LoRA adapter as llama.cpp's \
            convert_lora_to_gguf.py writes it (general.type adapter, adapter.type lora, adapter.lora.alpha, \
            blk.N.attn_q.weight.lora_a/lora_b …), for Llama, Mistral, Qwen2, Gemma (1-3) and Phi-3 bases; \
            others (e.g. BERT/MiniLM) are refused. The architecture comes from --arch, else --base's \
            config.json, else the adapter's base_model_name_or_path. Llama and Mistral need --base (the \
            head counts: llama.cpp stores q/k rows in its rotary order). Only callers that may change the \
            daemon (root, its user, its admin group) may export: the weights are the operator's.
            """)

    /// The file formats `export` writes.
    enum Format: String, ExpressibleByArgument, CaseIterable {
        case peft, gguf
    }

    @Argument(help: ArgumentHelp("CLUSTER DIR (or FILE for gguf), or DIR/FILE with --task.", valueName: "cluster-and-target"))
    var positional: [String] = []

    @Option(name: .long, help: "Export the cluster serving this task.")
    var task: String?

    @Option(name: .long, help: "peft (a directory, the default) or gguf (one llama.cpp LoRA adapter file).")
    var format: Format = .peft

    @Option(name: .long, help: ArgumentHelp("gguf: tensor type f32, f16 or bf16 (default: the served adapter's own, F16 for merged adapters).", valueName: "type"))
    var dtype: String?

    @Option(name: .long, help: ArgumentHelp("gguf: base architecture (\(GGUFLoRAArchitecture.supportedNames)); overrides the adapter's base model name.", valueName: "name"))
    var arch: String?

    @Option(name: .long, help: ArgumentHelp("gguf: the base model's directory (or its config.json), for its architecture and head counts.", valueName: "path"))
    var base: String?

    @OptionGroup var client: ClientOptions

    func run() async throws {
        let (params, target) = try resolve()
        guard format == .gguf || (dtype == nil && arch == nil && base == nil) else {
            throw ValidationError("--dtype, --arch and --base apply only to --format gguf")
        }
        if format == .gguf {
            let request = try ggufRequest()
            try Self.checkNewFile(target)
            let result = try await client.withClient { try await $0.call(Methods.Export.self, params) }
            try Self.writeGGUF(result, to: target, request: request)
            if client.json { return Output.printJSON(ExportSummary(result, directory: target)) }
            return Output.printText(Self.render(result, directory: target))
        }
        try Self.checkWritable(target)
        let result = try await client.withClient { try await $0.call(Methods.Export.self, params) }
        try Self.write(result, to: target)
        if client.json { return Output.printJSON(ExportSummary(result, directory: target)) }
        Output.printText(Self.render(result, directory: target))
    }

    /// What was exported where; the daemon's strings and the path escaped for the terminal.
    static func render(_ result: ExportResult, directory: String) -> String {
        [
            "exported cluster \(result.cluster) (\(result.kind.terminalSafe), generation \(result.generation)) to \(directory.terminalSafe)",
            "  tasks    \(result.tasks.map(\.terminalSafe).joined(separator: ", "))",
            "  sha256   \(result.sha256.terminalSafe)",
            "  scale    \(Output.format(result.scale))",
        ].joined(separator: "\n")
    }

    /// The params and target directory from the arguments (`export CLUSTER DIR` or `export --task T DIR`).
    func resolve() throws -> (ExportParams, String) {
        if let task {
            guard positional.count == 1 else { throw ValidationError("with --task give only DIR") }
            return (ExportParams(task: task), positional[0])
        }
        guard positional.count == 2 else { throw ValidationError("usage: adapterctl export CLUSTER DIR (or --task T DIR)") }
        guard let cluster = Int64(positional[0]) else {
            throw ValidationError("CLUSTER must be a cluster id (a number, as `adapterctl status` shows), not '\(positional[0])'")
        }
        return (ExportParams(cluster: cluster), positional[1])
    }

    /// Refuses a DIR that exists and is not an empty directory.
    static func checkWritable(_ path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return }
        guard isDirectory.boolValue else { throw CLIError(.usage, "\(path) exists and is not a directory") }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        guard entries.isEmpty else {
            throw CLIError(.usage, "\(path) is not empty (\(entries.count) entries); export writes only into a new or empty directory")
        }
    }

    /// What the GGUF conversion is asked for on the command line (before the daemon is called).
    struct GGUFRequest: Equatable {
        var dtype: DType?
        var architecture: GGUFLoRAArchitecture?
        var baseConfig: GGUFBaseModelConfig?
    }

    /// Parses --dtype and --arch and reads --base's config.json, so a mistake is reported before the
    /// daemon is asked.
    func ggufRequest() throws -> GGUFRequest {
        var request = GGUFRequest()
        if let dtype {
            guard let parsed = DType(rawValue: dtype.uppercased()) else {
                throw ValidationError("--dtype must be f32, f16 or bf16, not '\(dtype)'")
            }
            request.dtype = parsed
        }
        if let arch {
            guard let parsed = GGUFLoRAArchitecture(name: arch) else {
                throw CLIError(.usage, "architecture '\(arch)' is not supported for GGUF LoRA export (supported: \(GGUFLoRAArchitecture.supportedNames))")
            }
            request.architecture = parsed
        }
        if let base {
            var isDirectory: ObjCBool = false
            let path = FileManager.default.fileExists(atPath: base, isDirectory: &isDirectory) && isDirectory.boolValue
                ? base + "/config.json" : base
            do {
                let data = try RegularFile.read(URL(fileURLWithPath: path), maximumBytes: 16 * 1024 * 1024)
                request.baseConfig = try GGUFBaseModelConfig(configJSON: data)
            } catch {
                throw CLIError(.usage, "cannot use base model config \(path): \(error)")
            }
        }
        return request
    }

    /// The architecture: --arch, else --base's config.json, else the adapter's base_model_name_or_path.
    static func architecture(_ request: GGUFRequest, baseModelName: String?) throws -> GGUFLoRAArchitecture {
        if let chosen = request.architecture { return chosen }
        if let config = request.baseConfig {
            guard let found = config.architecture else {
                throw CLIError(.declined, "the base model's architecture '\(config.architectureName ?? "none given")' is not supported for GGUF LoRA export (supported: \(GGUFLoRAArchitecture.supportedNames))")
            }
            return found
        }
        guard let name = baseModelName, let guessed = GGUFLoRAArchitecture(modelID: name) else {
            throw CLIError(.declined, "cannot tell the base architecture of '\(baseModelName ?? "an adapter without base_model_name_or_path")' for GGUF LoRA export; give --arch (\(GGUFLoRAArchitecture.supportedNames)) or --base DIR")
        }
        return guessed
    }

    /// Refuses a FILE that already exists (a GGUF export never overwrites).
    static func checkNewFile(_ path: String) throws {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw CLIError(.usage, "\(path) exists; export --format gguf writes only a new file")
        }
    }

    /// Checks the daemon's files, converts them to a GGUF LoRA adapter and writes it to `path`.
    static func writeGGUF(_ result: ExportResult, to path: String, request: GGUFRequest) throws {
        let weights = try checkedWeights(result)
        let bytes: Data
        do {
            let adapter = try PEFTAdapterLoader.load(configJSON: Data(result.config.utf8), safetensors: weights)
            let options = GGUFLoRAExport.Options(
                architecture: try architecture(request, baseModelName: adapter.config.baseModelNameOrPath),
                headCount: request.baseConfig?.headCount, keyValueHeadCount: request.baseConfig?.keyValueHeadCount,
                dtype: request.dtype ?? adapter.storageDType)
            bytes = try GGUFLoRAExport.serialize(adapter, options: options)
        } catch let error as CLIError {
            throw error
        } catch let error as GGUFError where error.code == .invalidBaseConfig {
            throw CLIError(.usage, "cannot export cluster \(result.cluster) as GGUF: \(error)")
        } catch {
            throw CLIError(.declined, "cannot export cluster \(result.cluster) as GGUF: \(error)")
        }
        do {
            try bytes.write(to: URL(fileURLWithPath: path), options: .withoutOverwriting)
        } catch {
            throw CLIError(.usage, "cannot write \(path): \(error.localizedDescription)")
        }
    }

    /// The safetensors bytes the daemon sent, decoded and checked against its sha256.
    static func checkedWeights(_ result: ExportResult) throws -> Data {
        guard let weights = Data(base64Encoded: result.safetensors) else {
            throw CLIError(.daemonError, "the daemon sent adapter_model.safetensors in invalid base64")
        }
        let digest = SHA256.hash(data: weights).map { String(format: "%02x", $0) }.joined()
        guard digest == result.sha256 else {
            throw CLIError(.daemonError, "the exported weights hash to \(digest), not \(result.sha256) as the daemon said")
        }
        return weights
    }

    /// Decodes and checks the files, then writes them into `path` (created if needed).
    static func write(_ result: ExportResult, to path: String) throws {
        let weights = try checkedWeights(result)
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            try Data(result.config.utf8).write(to: URL(fileURLWithPath: path + "/adapter_config.json"), options: .withoutOverwriting)
            try weights.write(to: URL(fileURLWithPath: path + "/adapter_model.safetensors"), options: .withoutOverwriting)
        } catch {
            throw CLIError(.usage, "cannot write \(path): \(error.localizedDescription)")
        }
    }
}

/// What `export --json` prints: the result without the file bytes.
struct ExportSummary: Codable {
    var cluster: Int64
    var generation: Int64
    var kind: String
    var tasks: [String]
    var sha256: String
    var scale: Double
    var directory: String

    init(_ result: ExportResult, directory: String) {
        cluster = result.cluster
        generation = result.generation
        kind = result.kind
        tasks = result.tasks
        sha256 = result.sha256
        scale = result.scale
        self.directory = directory
    }
}
