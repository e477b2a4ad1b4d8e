import CFloatKernels

/// The precision a base model's linear maps multiply in. Everything else of a forward pass (the
/// embeddings, attention, norms, activations and a LoRA update) stays in single precision.
///
/// - `float32`: OpenBLAS sgemm on the weights as loaded.
/// - `bfloat16`: the weights and each product's input rounded to bfloat16 (8 significant bits), products
///   exact and summed in single precision in a fixed order (`CFloatKernels`: AVX512_BF16 where the CPU
///   has it, else a portable build with the same bits). About twice sgemm's rate on such a CPU, at a
///   relative error of a few 10⁻³ in each product.
public enum RuntimePrecision: String, Sendable, CaseIterable {
    case float32
    case bfloat16

    /// What `auto` means on this CPU: bfloat16 where it has the AVX512_BF16 instructions, single precision
    /// elsewhere (where bfloat16 would be slower than sgemm).
    public static var automatic: RuntimePrecision {
        hasBFloat16Instructions ? .bfloat16 : .float32
    }

    /// Whether this CPU has AVX512_BF16; without it `bfloat16` runs a portable build, slower than sgemm.
    public static var hasBFloat16Instructions: Bool { cfloatkernels_bf16_has_instructions() != 0 }

    /// How status lines name it: "products in bfloat16", with a warning where the portable build runs.
    public var summary: String {
        switch self {
        case .float32: "products in float32"
        case .bfloat16: Self.hasBFloat16Instructions ? "products in bfloat16"
            : "products in bfloat16 (portable build: this CPU lacks AVX512_BF16, slower than float32)"
        }
    }
}

extension RuntimePrecision {
    /// A precision as a user chooses it (`runtime-precision`, `--runtime-precision`): `auto` or one of
    /// the precisions.
    public enum Choice: String, Sendable, CaseIterable {
        case auto
        case float32
        case bfloat16

        /// The precision this choice runs in on this CPU (`auto`: `RuntimePrecision.automatic`).
        public var resolved: RuntimePrecision {
            switch self {
            case .auto: .automatic
            case .float32: .float32
            case .bfloat16: .bfloat16
            }
        }
    }
}
