/// One adapted linear map of a LoRA adapter: ΔW = scale · B · A, with A of shape r × in and B of
/// shape out × r, in the orientation y = W x (fan_in_fan_out adapters are transposed on load).
///
/// A fused projection (GPT-2 `c_attn`, Phi-3 `qkv_proj`) is split on load into one module per
/// projection; the parts share A and take their rows of B, and `name` gets a `#q`/`#k`/`#v` suffix.
public struct LoRAModule: Sendable, Equatable {
    /// PEFT module path without the `base_model.model.` prefix, e.g. `model.layers.3.self_attn.q_proj`.
    public let name: String
    /// Transformer layer index parsed from the path, if it has one.
    public let layer: Int?
    /// Attention projection, or nil for any other module.
    public let projection: Projection?
    /// r × in.
    public var a: Matrix
    /// out × r.
    public var b: Matrix
    /// lora_alpha / r, or lora_alpha / √r under rsLoRA, after rank_pattern/alpha_pattern.
    public let scale: Double

    public init(name: String, layer: Int?, projection: Projection?, a: Matrix, b: Matrix, scale: Double) {
        precondition(a.rows == b.cols, "LoRAModule: rank of A (\(a.rows)) and B (\(b.cols)) differ")
        self.name = name
        self.layer = layer
        self.projection = projection
        self.a = a
        self.b = b
        self.scale = scale
    }

    public var rank: Int { a.rows }
    public var inFeatures: Int { a.cols }
    public var outFeatures: Int { b.rows }
}
