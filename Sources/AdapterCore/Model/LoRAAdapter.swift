/// The model family an adapter's module names belong to, which decides how paths map to projections.
public enum ArchitectureFamily: String, Sendable, Codable {
    /// Llama, Mistral, Qwen2, Gemma: `q_proj`, `k_proj`, `v_proj`, `o_proj` (k/v narrower under GQA).
    case llama
    /// BERT-style encoders: `attention.self.query/key/value`, `attention.output.dense`.
    case bert
    /// GPT-2: fused `attn.c_attn` (Conv1D) and `attn.c_proj`.
    case gpt2
    /// Phi-3: fused `qkv_proj` and `o_proj`.
    case phi3
    /// No attention projection recognised.
    case unknown
}

/// A loaded PEFT LoRA adapter: its configuration and every adapted module as factors.
public struct LoRAAdapter: Sendable {
    public let config: PEFTConfig
    public let modules: [LoRAModule]
    public let architecture: ArchitectureFamily
    /// The dtype of the tensors on disk (the widest one if they are mixed).
    public let storageDType: DType
    /// Bytes of tensor data in adapter_model.safetensors.
    public let tensorBytes: Int
    /// ‖ΔW‖² once computed (`FactoredUpdates.normSquared`), shared by every copy: the modules never change.
    let normSquaredMemo: Memo<Double>

    public init(config: PEFTConfig, modules: [LoRAModule], architecture: ArchitectureFamily,
                storageDType: DType, tensorBytes: Int) {
        self.init(config: config, modules: modules, architecture: architecture, storageDType: storageDType,
                  tensorBytes: tensorBytes, memo: Memo())
    }

    private init(config: PEFTConfig, modules: [LoRAModule], architecture: ArchitectureFamily,
                 storageDType: DType, tensorBytes: Int, memo: Memo<Double>) {
        self.config = config
        self.modules = modules
        self.architecture = architecture
        self.storageDType = storageDType
        self.tensorBytes = tensorBytes
        self.normSquaredMemo = memo
    }

    /// A copy of this adapter (the same values and identity) whose factors are decoded to doubles once,
    /// for a computation that reads them many times: each read of an encoded factor decodes it again.
    /// Takes 4× the memory of F16 factors while it is held.
    func decodingFactors() -> LoRAAdapter {
        LoRAAdapter(config: config, modules: modules.map { module in
                        var decoded = module
                        decoded.factorA = module.factorA.decoded
                        decoded.factorB = module.factorB.decoded
                        return decoded
                    },
                    architecture: architecture, storageDType: storageDType, tensorBytes: tensorBytes,
                    memo: normSquaredMemo)
    }

    /// Whether `other` is this adapter or a copy of it (they share the memo of ‖ΔW‖²; the fields never
    /// change), so that comparing them needs no pass over their factors.
    func isCopy(of other: LoRAAdapter) -> Bool { normSquaredMemo === other.normSquaredMemo }

    /// What tells this adapter (and its copies) from every other while `object` is held: the memo
    /// every copy shares.
    var identity: (id: ObjectIdentifier, object: any AnyObject & Sendable) { (ObjectIdentifier(normSquaredMemo), normSquaredMemo) }

    /// Modules adapting one attention projection, in layer order.
    public func modules(for projection: Projection) -> [LoRAModule] {
        modules.filter { $0.projection == projection }.sorted { ($0.layer ?? -1) < ($1.layer ?? -1) }
    }

    /// Modules that are not attention projections ("other").
    public var otherModules: [LoRAModule] { modules.filter { $0.projection == nil } }

    /// Number of distinct layers among the attention modules.
    public var layerCount: Int { Set(modules.compactMap { $0.projection == nil ? nil : $0.layer }).count }
}
