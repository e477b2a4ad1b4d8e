import Foundation

/// Loads a PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors) into a `LoRAAdapter`,
/// its factors kept in the file's dtype (`FactorMatrix`: slices of the file's bytes, checked for NaN/Inf,
/// decoded where read).
///
/// What it accepts and how:
/// - Tensor keys `base_model.model.<module>.lora_A.weight` / `.lora_B.weight` (the prefix is
///   stripped; keys with an adapter name, `.lora_A.<name>.weight`, are accepted too). Every A must
///   have its B and the reverse.
/// - Shapes A = [r, in], B = [out, r] with r equal to the rank the config gives the module (`r` or a
///   `rank_pattern` match); scale from `lora_alpha`/`alpha_pattern` and `use_rslora`.
/// - `fan_in_fan_out` (GPT-2 Conv1D): PEFT stores Conv1D factors in the same [r, in] / [out, r]
///   orientation as for Linear layers (its forward pass is B·A·x), so no transpose is needed; the
///   flag is only recorded in the config.
/// - Fused Q/K/V projections are split by `ModuleNaming` (parts share A and take their rows of B).
/// - Every tensor must be a LoRA factor: adapterd serves and merges low-rank updates only, so a tensor
///   it accepted but did not carry would be silently lost (and the merge reported as lossless).
///
/// Refused with a `PEFTError`: pickles (adapter_model.bin), peft_type other than LORA, DoRA
/// (`use_dora` or `lora_magnitude_vector`), embedding LoRA (`lora_embedding_A/B`), `lora_B` bias,
/// `modules_to_save` (full copies of e.g. a classifier head, which merging would drop), unpaired,
/// unexpected or duplicate tensors, wrong shapes or ranks, NaN/Inf. Container problems are thrown as
/// `SafeTensorsError`.
public enum PEFTAdapterLoader {
    public static let configFileName = "adapter_config.json"
    public static let weightsFileName = "adapter_model.safetensors"
    public static let pickleFileName = "adapter_model.bin"
    /// The prefix PEFT puts before module paths in tensor keys.
    public static let keyPrefix = "base_model.model."
    /// Largest adapter_config.json read from a directory (PEFT writes about 1 KiB).
    public static let maximumConfigBytes = 16 * 1024 * 1024
    /// Largest adapter_model.safetensors read from a directory (a rank-64 LoRA of every linear map of
    /// a 70B model is about 3 GiB).
    public static let maximumWeightsBytes = 64 << 30

    /// Loads a PEFT adapter directory (the safetensors file is read into memory, which the factors then
    /// share: a mapping could be truncated under them by another process). Both files must be
    /// regular files (`RegularFile`): a FIFO, device or directory in their place is refused with
    /// `PEFTError.unreadableFile`, never waited on or read without end.
    public static func load(directory: URL) throws -> LoRAAdapter {
        let configURL = directory.appendingPathComponent(configFileName)
        let weightsURL = directory.appendingPathComponent(weightsFileName)
        let configData: Data
        do {
            configData = try RegularFile.read(configURL, maximumBytes: maximumConfigBytes)
        } catch where error.code == .missing {
            throw PEFTError(.missingConfig, "'\(directory.path)' has no \(configFileName)")
        } catch {
            throw PEFTError(.unreadableFile, error.message)
        }
        let weightsData: Data
        // Validated and scanned for NaN/∞ chunk by chunk as it is read, not in a second pass.
        let scan = SafeTensorsReadScan()
        do {
            weightsData = try RegularFile.read(weightsURL, maximumBytes: maximumWeightsBytes,
                                               chunkBytes: SafeTensorsReadScan.chunkBytes, observe: scan.consume)
        } catch where error.code == .missing {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent(pickleFileName).path) {
                throw PEFTError(
                    .pickleNotSupported,
                    "'\(directory.path)' holds only \(pickleFileName), a Python pickle that can run arbitrary code; "
                        + "adapterd never loads pickles. Save the adapter with safetensors "
                        + "(PEFT: save_pretrained(..., safe_serialization=True)).")
            }
            throw PEFTError(.missingWeights, "'\(directory.path)' has no \(weightsFileName)")
        } catch {
            throw PEFTError(.unreadableFile, error.message)
        }
        let parsed = try PEFTConfigParser.parse(configData)
        return try load(config: parsed, weights: try SafeTensorsFile(data: weightsData, scan: scan))
    }

    /// Loads an adapter from the bytes of its two files (e.g. received over the socket).
    public static func load(configJSON: Data, safetensors: Data) throws -> LoRAAdapter {
        let parsed = try PEFTConfigParser.parse(configJSON)
        return try load(config: parsed, weights: try SafeTensorsFile(data: safetensors))
    }

    /// Loads an adapter from an already parsed config and validated safetensors file.
    public static func load(config parsed: PEFTConfigParser.Parsed, weights: SafeTensorsFile) throws -> LoRAAdapter {
        if parsed.useDoRA {
            throw PEFTError(
                .unsupportedVariant, "this is a DoRA adapter (use_dora); adapterd handles plain LoRA only")
        }
        let tensorNames = weights.tensors.map(\.name)
        try refuseModulesToSave(parsed.modulesToSave, tensorNames: tensorNames)
        let pairs = try factorPairs(tensorNames)
        // Read on `ComputeThreads` threads; a failure is reported as in module order.
        let names = pairs.keys.sorted()
        var modules = try ParallelLoop.map(names.count, cancellable: false) { m in
            let (aKey, bKey) = try pairs[names[m], default: FactorPair()].keys(of: names[m])
            return try loadModule(names[m], a: aKey, b: bKey, weights: weights, config: parsed)
        }.flatMap { $0 }
        modules.sort(by: servingOrder)
        // Every tensor is a factor of some module by now: the widest dtype among them is the storage.
        let dtypes = Set(weights.tensors.map(\.dtype))
        let storage: DType = dtypes.contains(.f32) ? .f32 : dtypes.contains(.bf16) ? .bf16 : .f16
        return LoRAAdapter(
            config: parsed.config, modules: modules, architecture: ModuleNaming.family(of: modules.map(\.name)),
            storageDType: storage, tensorBytes: weights.dataByteCount)
    }

    /// The lora_A and lora_B tensor keys of one module, as found in the file.
    private struct FactorPair {
        var a: String?
        var b: String?

        /// Records `key` as the module's lora_A (or lora_B); a second one is a duplicate.
        mutating func add(_ key: String, isA: Bool, module: String) throws(PEFTError) {
            let factor = isA ? "lora_A" : "lora_B"
            if let previous = isA ? a : b {
                throw PEFTError(.duplicateTensor, "module '\(module)' has two \(factor) tensors: '\(previous)' and '\(key)'")
            }
            if isA { a = key } else { b = key }
        }

        /// Both keys; a factor without its partner is an error.
        func keys(of module: String) throws(PEFTError) -> (a: String, b: String) {
            guard let a else { throw PEFTError(.unpairedTensor, "module '\(module)' has lora_B but no lora_A") }
            guard let b else { throw PEFTError(.unpairedTensor, "module '\(module)' has lora_A but no lora_B") }
            return (a, b)
        }
    }

    /// Every tensor key sorted into its module's factor pair; any tensor that is not a plain LoRA
    /// factor is refused.
    private static func factorPairs(_ tensorNames: [String]) throws(PEFTError) -> [String: FactorPair] {
        var pairs: [String: FactorPair] = [:]
        for key in tensorNames {
            let (module, isA) = try factor(key)
            try pairs[module, default: FactorPair()].add(key, isA: isA, module: module)
        }
        guard !pairs.isEmpty else {
            throw PEFTError(.emptyAdapter, "adapter_model.safetensors holds no LoRA factors")
        }
        return pairs
    }

    /// A tensor key without PEFT's `base_model.model.` prefix (a slice of it).
    private static func withoutKeyPrefix(_ key: String) -> Substring {
        key.hasPrefix(keyPrefix) ? key[key.utf8.index(key.utf8.startIndex, offsetBy: keyPrefix.utf8.count)...] : key[...]
    }

    private static let factorSuffixes = [(".lora_A.weight", true), (".lora_B.weight", false)]

    /// The module a tensor key is a factor of, and whether it is lora_A (else lora_B).
    private static func factor(_ key: String) throws(PEFTError) -> (module: String, isA: Bool) {
        let path = withoutKeyPrefix(key)
        // The common `<module>.lora_A.weight` with no embedding or DoRA part, as below without splitting it.
        for (suffix, isA) in factorSuffixes where path.hasUTF8Suffix(suffix) {
            guard !path.containsUTF8("lora_embedding_"), !path.containsUTF8("lora_magnitude_vector") else { break }
            return (String(path[..<path.utf8.index(path.utf8.endIndex, offsetBy: -suffix.utf8.count)]), isA)
        }
        let components = ModuleNaming.components(of: path)   // slices of `key`
        if let bad = components.first(where: { $0.hasUTF8Prefix("lora_embedding_") }) {
            throw PEFTError(
                .unsupportedVariant,
                "tensor '\(key)' is an embedding LoRA factor (\(bad)); adapterd handles Linear/Conv1D LoRA only")
        }
        if components.contains(where: { $0.hasUTF8Prefix("lora_magnitude_vector") }) {
            throw PEFTError(
                .unsupportedVariant, "tensor '\(key)' is a DoRA magnitude vector; adapterd handles plain LoRA only")
        }
        guard let factorIndex = components.lastIndex(where: { $0 == "lora_A" || $0 == "lora_B" }) else {
            throw PEFTError(
                .unexpectedTensor,
                "tensor '\(key)' is not a LoRA factor (expected …lora_A.weight / …lora_B.weight)")
        }
        let tail = components[(factorIndex + 1)...]
        // `.lora_A.weight`, or `.lora_A.<adapter name>.weight` as written by some tools.
        let isWeight = tail.last == "weight" && (tail.count == 1 || (tail.count == 2 && tail.first != ""))
        guard isWeight, factorIndex > 0 else {
            if tail.last == "bias" {
                throw PEFTError(
                    .unsupportedVariant, "tensor '\(key)' is a LoRA bias (lora_bias); adapterd does not handle it")
            }
            throw PEFTError(.unexpectedTensor, "tensor '\(key)' is not of the form <module>.lora_A|B.weight")
        }
        // The components before lora_A/B, as they stand in the key (the dot before it dropped).
        return (String(path[..<components[factorIndex].startIndex].dropLast()), components[factorIndex] == "lora_A")
    }

    /// One module's factors decoded and checked (two-dimensional, finite, shapes and rank as the
    /// config says), as the modules it serves (a fused projection split into its parts).
    private static func loadModule(_ module: String, a aKey: String, b bKey: String, weights: SafeTensorsFile,
                                   config parsed: PEFTConfigParser.Parsed) throws -> [LoRAModule] {
        for key in [aKey, bKey] {
            if let info = weights.tensor(named: key), info.shape.count != 2 {
                throw PEFTError(
                    .shapeMismatch, "tensor '\(key)' has shape \(info.shape); LoRA factors are two-dimensional")
            }
        }
        // Kept in the file's dtype (slices of its bytes; decoded where the math reads them), NaN/Inf
        // found from the exponent fields.
        let (a, aNonFinite) = try weights.checkedFactor(aKey)
        let (b, bNonFinite) = try weights.checkedFactor(bKey)
        try requireFinite(a, aKey, firstNonFinite: aNonFinite)
        try requireFinite(b, bKey, firstNonFinite: bNonFinite)
        guard a.rows == b.cols else {
            throw PEFTError(
                .shapeMismatch,
                "module '\(module)': lora_A is [\(a.rows), \(a.cols)] and lora_B is [\(b.rows), \(b.cols)]; "
                    + "expected [r, in] and [out, r] with the same r")
        }
        let (rank, scale) = try parsed.rankAndScale(forModule: module)
        guard a.rows == rank else {
            throw PEFTError(
                .rankMismatch, "module '\(module)' has rank \(a.rows) but the config gives it rank \(rank)")
        }
        let layer = ModuleNaming.layerIndex(in: module)
        return try ModuleNaming.parts(of: module, inFeatures: a.cols, outFeatures: b.rows).map { part in
            let partB = b.rows(part.rows)
            return LoRAModule(name: part.name, layer: layer, projection: part.projection, a: a, b: partB, scale: scale)
        }
    }

    /// Modules by layer, then projection (in `Projection`'s order, other modules last), then name.
    private static func servingOrder(_ lhs: LoRAModule, _ rhs: LoRAModule) -> Bool {
        let l = (lhs.layer ?? Int.max, lhs.projection.map { Projection.allCases.firstIndex(of: $0) ?? 0 } ?? 4)
        let r = (rhs.layer ?? Int.max, rhs.projection.map { Projection.allCases.firstIndex(of: $0) ?? 0 } ?? 4)
        return l != r ? l < r : lhs.name < rhs.name
    }

    /// Refuses an adapter that declares `modules_to_save` or holds tensors saved for it, naming them.
    private static func refuseModulesToSave(_ modulesToSave: [String], tensorNames: [String]) throws(PEFTError) {
        // Without a declaration only a `modules_to_save` component marks a tensor: look for the word first.
        if modulesToSave.isEmpty, !tensorNames.contains(where: { $0.containsUTF8("modules_to_save") }) { return }
        let saved = tensorNames.filter { isModulesToSaveTensor($0, modulesToSave) }.sorted()
        guard !modulesToSave.isEmpty || !saved.isEmpty else { return }
        let listed = saved.prefix(4).map { "'\($0)'" }.joined(separator: ", ")
            + (saved.count > 4 ? " and \(saved.count - 4) more" : "")
        let declared = modulesToSave.isEmpty
            ? "it holds full copies of modules saved with modules_to_save (\(listed))"
            : "adapter_config.json sets modules_to_save to [\(modulesToSave.map { "\"\($0)\"" }.joined(separator: ", "))]"
                + (saved.isEmpty ? " (the file holds none of their tensors)" : ", full copies of those modules (\(listed))")
        throw PEFTError(
            .modulesToSave,
            "\(declared); adapterd serves and merges LoRA factors only and would drop them. Save the adapter "
                + "without modules_to_save (e.g. merge the trained head into the base model).")
    }

    /// Whether a tensor key belongs to a `modules_to_save` module: `<module>.<parameter>` where PEFT
    /// matches entries as name suffixes, or any key with a `modules_to_save` component (older PEFT).
    private static func isModulesToSaveTensor(_ key: String, _ modulesToSave: [String]) -> Bool {
        let path = withoutKeyPrefix(key)
        if ModuleNaming.components(of: path).contains("modules_to_save") { return true }
        guard let dot = path.lastIndex(of: ".") else { return false }
        let module = path[..<dot]
        return modulesToSave.contains { module == $0 || module.hasSuffix("." + $0) }
    }

    private static func requireFinite(_ m: FactorMatrix, _ key: String, firstNonFinite: Int?) throws(PEFTError) {
        if let i = firstNonFinite {
            let what = m.matrix.elements[i].isNaN ? "NaN" : "an infinite value"
            throw PEFTError(
                .nonFiniteValue,
                "tensor '\(key)' contains \(what) at row \(i / max(m.cols, 1)), column \(i % max(m.cols, 1))")
        }
    }
}
