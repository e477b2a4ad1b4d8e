import Foundation

/// A base-model architecture whose LoRA adapters can be exported as GGUF, with what llama.cpp calls it
/// (`general.architecture`) and whether its conversion reorders q/k rows for rotary embeddings.
///
/// Where it comes from, first found wins: an explicit name (`--arch`), the base model's config.json
/// (`architectures[0]`, else `model_type`), the adapter config's `base_model_name_or_path`.
public enum GGUFLoRAArchitecture: String, Sendable, CaseIterable {
    case llama, mistral, qwen2, gemma, gemma2, gemma3, phi3

    /// `general.architecture` as llama.cpp's converter writes it (Mistral converts as Llama).
    public var ggufName: String { self == .mistral ? "llama" : rawValue }

    /// Llama and Mistral conversions permute the rows of q_proj and k_proj (per head, the two rotary
    /// halves interleaved), and so the rows of a LoRA's q/k lora_b; the others keep HF order.
    public var permutesQueryKeyRows: Bool { self == .llama || self == .mistral }

    /// From a name as a user, a config's `model_type` or `architectures[0]` spells it
    /// (`llama`, `Qwen2ForCausalLM`, `gemma3_text`, `Phi-3`…), case-insensitively; nil when unknown.
    public init?(name: String) {
        let key = name.lowercased().replacingOccurrences(of: "-", with: "").replacingOccurrences(of: "_", with: "")
        let stem = key.hasSuffix("forcausallm") ? String(key.dropLast("forcausallm".count)) : key
        switch stem {
        case "llama": self = .llama
        case "mistral": self = .mistral
        case "qwen2": self = .qwen2
        case "gemma": self = .gemma
        case "gemma2": self = .gemma2
        case "gemma3", "gemma3text": self = .gemma3
        case "phi3": self = .phi3
        default: return nil
        }
    }

    /// A guess from a model id or path (`meta-llama/Llama-3.2-1B`, `Qwen/Qwen2.5-0.5B`,
    /// `adapterd-corpus/llama-tiny`): the last path component's family word; nil when none matches.
    public init?(modelID: String) {
        let last = (modelID.split(separator: "/").last.map(String.init) ?? modelID).lowercased()
        let ordered: [(String, GGUFLoRAArchitecture)] = [
            ("gemma-3", .gemma3), ("gemma3", .gemma3), ("gemma-2", .gemma2), ("gemma2", .gemma2), ("gemma", .gemma),
            ("qwen2", .qwen2), ("mistral", .mistral), ("phi-3", .phi3), ("phi3", .phi3), ("llama", .llama),
        ]
        guard let hit = ordered.first(where: { last.contains($0.0) }) else { return nil }
        self = hit.1
    }

    /// The names accepted, for error messages.
    public static var supportedNames: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// What the export needs from a base model's config.json: its architecture and head counts.
public struct GGUFBaseModelConfig: Sendable, Equatable {
    /// The architecture named by `architectures[0]` or `model_type`, nil when neither is supported.
    public var architecture: GGUFLoRAArchitecture?
    /// The name found (for an error naming an unsupported one).
    public var architectureName: String?
    public var headCount: Int?
    public var keyValueHeadCount: Int?

    public init(architecture: GGUFLoRAArchitecture?, architectureName: String?, headCount: Int?, keyValueHeadCount: Int?) {
        self.architecture = architecture
        self.architectureName = architectureName
        self.headCount = headCount
        self.keyValueHeadCount = keyValueHeadCount
    }

    /// Parses config.json (a JSON object; `text_config` is read when present, as for multimodal models).
    public init(configJSON: Data) throws(GGUFError) {
        guard let top = (try? JSONSerialization.jsonObject(with: configJSON)) as? [String: Any] else {
            throw GGUFError(.invalidBaseConfig, "the base model's config.json is not a JSON object")
        }
        let text = top["text_config"] as? [String: Any] ?? [:]
        func value(_ key: String) -> Any? { text[key] ?? top[key] }
        let names = [(value("architectures") as? [Any])?.first as? String, value("model_type") as? String].compactMap { $0 }
        architectureName = names.first
        architecture = names.lazy.compactMap(GGUFLoRAArchitecture.init(name:)).first
        func count(_ key: String) throws(GGUFError) -> Int? {
            guard let raw = value(key) else { return nil }
            guard let n = raw as? Int, n >= 1 else {
                throw GGUFError(.invalidBaseConfig, "the base model's config.json has \(key) = \(raw); expected a positive integer")
            }
            return n
        }
        headCount = try count("num_attention_heads")
        keyValueHeadCount = try count("num_key_value_heads") ?? headCount
    }
}
