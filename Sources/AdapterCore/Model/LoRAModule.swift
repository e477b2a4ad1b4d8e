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
    /// A, r × in, as it is kept (the file's dtype for a loaded adapter; `a` decodes it).
    public var factorA: FactorMatrix
    /// B, out × r, as it is kept.
    public var factorB: FactorMatrix
    /// lora_alpha / r, or lora_alpha / √r under rsLoRA, after rank_pattern/alpha_pattern.
    public let scale: Double

    public init(name: String, layer: Int?, projection: Projection?, a: Matrix, b: Matrix, scale: Double) {
        self.init(name: name, layer: layer, projection: projection, a: FactorMatrix(a), b: FactorMatrix(b), scale: scale)
    }

    public init(name: String, layer: Int?, projection: Projection?, a: FactorMatrix, b: FactorMatrix, scale: Double) {
        precondition(a.rows == b.cols, "LoRAModule: rank of A (\(a.rows)) and B (\(b.cols)) differ")
        self.name = name
        self.layer = layer
        self.projection = projection
        self.factorA = a
        self.factorB = b
        self.scale = scale
    }

    /// A (r × in) as doubles: decoded on each read when kept in a file dtype, so read it once per use.
    public var a: Matrix {
        get { factorA.matrix }
        set { factorA = FactorMatrix(newValue) }
    }

    /// B (out × r) as doubles: decoded on each read when kept in a file dtype, so read it once per use.
    public var b: Matrix {
        get { factorB.matrix }
        set { factorB = FactorMatrix(newValue) }
    }

    public var rank: Int { factorA.rows }
    public var inFeatures: Int { factorA.cols }
    public var outFeatures: Int { factorB.rows }
    /// Elements of A and B together.
    public var factorElementCount: Int { factorA.count + factorB.count }
}
