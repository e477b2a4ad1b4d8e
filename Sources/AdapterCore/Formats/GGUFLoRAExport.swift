import Foundation

/// Writes a LoRA adapter as a GGUF LoRA adapter file in the form llama.cpp's `convert_lora_to_gguf.py`
/// produces and `llama_adapter_lora_init` loads.
///
/// - Metadata: `general.architecture` (llama.cpp's name: `llama`, `qwen2`, `gemma`, `gemma2`,
///   `gemma3`, `phi3`), `general.type = "adapter"`, `general.file_type`, `general.quantization_version`,
///   `adapter.type = "lora"`, `adapter.lora.alpha` (float32).
/// - Tensors: per adapted module `blk.N.<name>.weight.lora_a` with row-major shape [r, in] and
///   `….lora_b` [out, r], exactly PEFT's lora_A/lora_B (GGUF dims, reversed: [in, r] and [r, out]);
///   names `attn_q`, `attn_k`, `attn_v`, `attn_output`, `attn_qkv` (Phi-3), `ffn_gate`, `ffn_up`
///   (Phi-3's fused gate_up too), `ffn_down`.
/// - Scale: llama.cpp applies alpha / r (r = lora_b's inner dimension), nothing else, so alpha is
///   written unfolded as the most common scale × rank of the modules; a module whose scale × rank differs
///   (rsLoRA, rank/alpha patterns) has the ratio folded into its lora_b, so every module's update is
///   exactly scale·B·A.
/// - Row order: for Llama and Mistral, llama.cpp's conversion permutes q_proj/k_proj rows per head
///   (rotary halves interleaved); the same permutation is applied to q/k lora_b rows, which needs the
///   base model's head counts.
public enum GGUFLoRAExport {
    /// What the export needs besides the adapter.
    public struct Options: Sendable, Equatable {
        public var architecture: GGUFLoRAArchitecture
        /// `num_attention_heads` and `num_key_value_heads`: needed for Llama/Mistral q/k modules.
        public var headCount: Int?
        public var keyValueHeadCount: Int?
        /// Element type of the tensors written.
        public var dtype: DType

        public init(architecture: GGUFLoRAArchitecture, headCount: Int? = nil, keyValueHeadCount: Int? = nil, dtype: DType) {
            self.architecture = architecture
            self.headCount = headCount
            self.keyValueHeadCount = keyValueHeadCount
            self.dtype = dtype
        }
    }

    /// The GGUF tensor stem (`blk.3.attn_q`) for a module path as PEFT names it after
    /// `base_model.model.` (`model.layers.3.self_attn.q_proj`).
    public static func tensorStem(forModule path: String, architecture: GGUFLoRAArchitecture) throws(GGUFError) -> String {
        let parts = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 5, parts[0] == "model", parts[1] == "layers", let layer = Int(parts[2]), layer >= 0,
              String(layer) == parts[2]
        else {
            throw GGUFError(.unmappedModule, "module '\(path)' is not model.layers.N.<projection>; GGUF LoRA export maps only per-layer attention and MLP projections")
        }
        let fused = architecture == .phi3
        let name: String? = switch (parts[3], parts[4]) {
        case ("self_attn", "q_proj"): "attn_q"
        case ("self_attn", "k_proj"): "attn_k"
        case ("self_attn", "v_proj"): "attn_v"
        case ("self_attn", "o_proj"): "attn_output"
        case ("self_attn", "qkv_proj") where fused: "attn_qkv"
        case ("mlp", "gate_proj"): "ffn_gate"
        case ("mlp", "up_proj"): "ffn_up"
        case ("mlp", "gate_up_proj") where fused: "ffn_up"
        case ("mlp", "down_proj"): "ffn_down"
        default: nil
        }
        guard let name else {
            throw GGUFError(.unmappedModule, "module '\(path)' has no GGUF tensor name for \(architecture.rawValue)")
        }
        return "blk.\(layer).\(name)"
    }

    /// Refuses adapters whose module names belong to a family llama.cpp's LoRA loader has no names
    /// for here (BERT encoders such as MiniLM, GPT-2).
    public static func checkFamily(_ adapter: LoRAAdapter) throws(GGUFError) {
        switch adapter.architecture {
        case .llama, .phi3: return
        case .bert, .gpt2, .unknown:
            let base = adapter.config.baseModelNameOrPath.map { " (base model '\($0)')" } ?? ""
            throw GGUFError(.unsupportedArchitecture, "the adapter's modules are \(adapter.architecture.rawValue)-style\(base); GGUF LoRA export supports \(GGUFLoRAArchitecture.supportedNames)")
        }
    }

    /// The GGUF file's bytes.
    public static func serialize(_ adapter: LoRAAdapter, options: Options) throws -> Data {
        try checkFamily(adapter)
        let modules = try PEFTAdapterWriter.plan(adapter)
        let stems = try modules.map { m throws(GGUFError) in try tensorStem(forModule: m.name, architecture: options.architecture) }
        if let dup = Dictionary(grouping: stems, by: { $0 }).first(where: { $0.value.count > 1 }) {
            throw GGUFError(.duplicateName, "two modules map to GGUF tensor '\(dup.key)'")
        }
        let alpha = fileAlpha(modules.map(\.alpha))
        let type = GGUFWriter.TensorType(options.dtype)
        var writer = GGUFWriter()
        try writer.add("general.architecture", .string(options.architecture.ggufName))
        try writer.add("general.type", .string("adapter"))
        try writer.add("general.file_type", .uint32(fileType(type)))
        try writer.add("general.quantization_version", .uint32(2))
        try writer.add("adapter.type", .string("lora"))
        try writer.add("adapter.lora.alpha", .float32(alpha))
        let order = zip(modules, stems).sorted { layerAndName($0.1) < layerAndName($1.1) }
        for (m, stem) in order {
            var (a, b) = m.factors()
            let fold = m.alpha / Double(alpha)
            if fold != 1 { b = b.scaled(fold) }
            if options.architecture.permutesQueryKeyRows, stem.hasSuffix(".attn_q") || stem.hasSuffix(".attn_k") {
                let heads = stem.hasSuffix(".attn_q") ? options.headCount : options.keyValueHeadCount
                guard let heads else {
                    throw GGUFError(.invalidBaseConfig, "\(options.architecture.rawValue) GGUF stores q/k rows in llama.cpp's rotary order; the export needs the base model's num_attention_heads and num_key_value_heads (give the base model's directory or config.json)")
                }
                b = try rotaryRowsPermuted(b, heads: heads, tensor: stem)
            }
            try writer.addTensor(stem + ".weight.lora_a", shape: [a.rows, a.cols], values: a.elements, type: type)
            try writer.addTensor(stem + ".weight.lora_b", shape: [b.rows, b.cols], values: b.elements, type: type)
        }
        return writer.serialized()
    }

    /// The alpha written: the most common scale × rank, as float32 (ties → the smallest).
    static func fileAlpha(_ alphas: [Double]) -> Float {
        var counts: [Float: Int] = [:]
        for a in alphas { counts[Float(a), default: 0] += 1 }
        return counts.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key ?? 1
    }

    /// Rows of a q/k projection (or its lora_b) reordered as llama.cpp's Llama conversion does: within
    /// each of `heads` heads of 2·h rows, row t·h + j (t = rotary half, j < h) moves to j·2 + t.
    public static func rotaryRowsPermuted(_ m: Matrix, heads: Int, tensor: String) throws(GGUFError) -> Matrix {
        guard heads >= 1, m.rows % (2 * heads) == 0 else {
            throw GGUFError(.invalidBaseConfig, "'\(tensor)' has \(m.rows) rows, not a multiple of 2 × \(heads) heads; the base model's head counts do not fit this adapter")
        }
        let half = m.rows / heads / 2
        var out = Matrix(zeros: m.rows, m.cols)
        for h in 0..<heads {
            for t in 0..<2 {
                for j in 0..<half {
                    let from = h * 2 * half + t * half + j
                    let to = h * 2 * half + j * 2 + t
                    for c in 0..<m.cols { out[to, c] = m[from, c] }
                }
            }
        }
        return out
    }

    /// `general.file_type` (llama.cpp's `LlamaFileType`): all F32 = 0, mostly F16 = 1, mostly BF16 = 32.
    static func fileType(_ type: GGUFWriter.TensorType) -> UInt32 {
        switch type {
        case .f32: 0
        case .f16: 1
        case .bf16: 32
        }
    }

    private static func layerAndName(_ stem: String) -> (Int, String) {
        let parts = stem.split(separator: ".")
        return (Int(parts[1]) ?? 0, String(parts[2]))
    }
}
