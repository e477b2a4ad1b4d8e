/// Why a PEFT adapter (directory, config or tensors) was refused or could not be written.
///
/// Problems with the safetensors container itself are reported as `SafeTensorsError`.
public typealias PEFTError = CodedError<PEFTErrorCode>

/// The kinds of `PEFTError`.
public enum PEFTErrorCode: String, CaseIterable, ErrorCode {
    /// The directory has no adapter_config.json.
    case missingConfig
    /// The directory has no adapter_model.safetensors (and no pickle either).
    case missingWeights
    /// adapter_config.json or adapter_model.safetensors is not a regular file (a FIFO, a device, a
    /// directory), is too large, or cannot be opened or read.
    case unreadableFile
    /// Only adapter_model.bin (a Python pickle) is present; pickles are never loaded.
    case pickleNotSupported
    /// adapter_config.json is not valid JSON or a field has the wrong type or value.
    case invalidConfig
    /// peft_type is not LORA.
    case unsupportedPEFTType
    /// A LoRA variant adapterd does not handle: embeddings (lora_embedding_A/B), DoRA magnitude
    /// vectors, lora_B bias.
    case unsupportedVariant
    /// A tensor that is not a LoRA factor.
    case unexpectedTensor
    /// The adapter declares `modules_to_save` or holds full copies of modules saved with it (e.g. a
    /// classifier head); merging keeps only LoRA factors, so they would be dropped.
    case modulesToSave
    /// The same module's factor appears twice (e.g. with and without an adapter name).
    case duplicateTensor
    /// A lora_A without its lora_B, or the reverse.
    case unpairedTensor
    /// A factor is not two-dimensional, or A is not [r, in] and B not [out, r] for the same r.
    case shapeMismatch
    /// The factors' rank differs from the rank the config (r or rank_pattern) gives the module.
    case rankMismatch
    /// A factor holds NaN or an infinity.
    case nonFiniteValue
    /// A fused projection cannot be split (its width does not divide as the architecture requires).
    case cannotSplitFusedModule
    /// The adapter has no LoRA modules at all.
    case emptyAdapter
    /// Writer: the adapter cannot be expressed as a PEFT directory (e.g. an incomplete fused group).
    case cannotWrite
    /// Writer: the destination exists or the files could not be written.
    case writeFailed

    public static var descriptionPrefix: String { "PEFT adapter: " }
}
