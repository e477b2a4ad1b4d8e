/// Why a GGUF file could not be written, or an adapter could not be exported as a GGUF LoRA adapter.
public typealias GGUFError = CodedError<GGUFErrorCode>

/// The kinds of `GGUFError`.
public enum GGUFErrorCode: String, CaseIterable, ErrorCode {
    /// The base architecture is not one llama.cpp loads LoRA adapters for here (e.g. BERT), or it
    /// could not be told from the adapter and none was given.
    case unsupportedArchitecture
    /// A module path has no GGUF tensor name (not `model.layers.N.<attention or MLP projection>`).
    case unmappedModule
    /// The base model's configuration is missing, malformed, or lacks a value the export needs
    /// (head counts for Llama's q/k row order).
    case invalidBaseConfig
    /// A tensor's shape or values cannot be written (a dimension of zero, a value the type cannot hold).
    case invalidTensor
    /// Two tensors or two keys of the same name.
    case duplicateName

    public static var descriptionPrefix: String { "gguf: " }
}
