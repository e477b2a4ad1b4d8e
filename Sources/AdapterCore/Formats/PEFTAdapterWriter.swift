import Foundation
import Glibc

/// Writes a `LoRAAdapter` (e.g. a merged one) as a PEFT LoRA directory that PEFT and
/// `PEFTAdapterLoader` load back to the same updates ΔW = scale·B·A.
///
/// Layout of what is written:
/// - adapter_model.safetensors: `base_model.model.<module>.lora_A.weight` [r, in] and
///   `.lora_B.weight` [out, r] in the chosen dtype (F16 by default), metadata `{"format": "pt"}`.
/// - adapter_config.json: peft_type LORA, `use_rslora` false, `target_modules` = the exact module
///   names written (so PEFT adapts exactly those modules), `r`/`lora_alpha` = the most common rank
///   and alpha, and `rank_pattern`/`alpha_pattern` entries (keys = escaped full module names) for
///   modules that differ.
///
/// Scale: each module keeps its own B; its alpha is written as scale × rank so PEFT's alpha / r
/// gives back the scale. Fused parts (`…c_attn#q/#k/#v`) are re-fused into one module: when the
/// three parts still share one A and one scale (as after loading), A is written once and B is the
/// parts' rows stacked (rank r); otherwise A = [A_q; A_k; A_v], B is block-diagonal (rank = sum of the
/// parts' ranks) and, if the parts' scales differ, each block of B is multiplied by its scale and the
/// module's alpha equals its rank (scale 1).
public enum PEFTAdapterWriter {
    /// Metadata written into the safetensors header.
    public static let weightsMetadata = ["format": "pt"]

    /// The two files' contents.
    public static func serialize(_ adapter: LoRAAdapter, dtype: DType = .f16) throws -> (config: Data, weights: Data) {
        let modules = try plan(adapter)
        var writer = SafeTensorsWriter(metadata: weightsMetadata)
        for m in modules {
            let (a, b) = m.factors()
            try writer.add(PEFTAdapterLoader.keyPrefix + m.name + ".lora_A.weight", matrix: a, dtype: dtype)
            try writer.add(PEFTAdapterLoader.keyPrefix + m.name + ".lora_B.weight", matrix: b, dtype: dtype)
        }
        return (configJSON(adapter, modules), writer.serialized())
    }

    /// Exact total size in bytes of the two files `write` produces (config + weights), computed
    /// without encoding any tensor.
    public static func byteSize(_ adapter: LoRAAdapter, dtype: DType = .f16) throws -> Int {
        let modules = try plan(adapter)
        return configJSON(adapter, modules).count + weightsByteSize(modules, dtype: dtype)
    }

    /// Exact size in bytes of adapter_model.safetensors alone.
    public static func weightsByteSize(_ adapter: LoRAAdapter, dtype: DType = .f16) throws -> Int {
        weightsByteSize(try plan(adapter), dtype: dtype)
    }

    /// Writes the adapter as a new directory at `directory` (which must not exist): both files go
    /// into a temporary sibling directory, are fsynced, and the directory is renamed into place.
    public static func write(_ adapter: LoRAAdapter, to directory: URL, dtype: DType = .f16) throws {
        let fm = FileManager.default
        guard !fm.fileExists(atPath: directory.path) else {
            throw PEFTError(.writeFailed, "'\(directory.path)' already exists")
        }
        let (config, weights) = try serialize(adapter, dtype: dtype)
        let parent = directory.deletingLastPathComponent()
        let temp = parent.appendingPathComponent(".\(directory.lastPathComponent).tmp-\(UUID().uuidString)")
        do {
            try fm.createDirectory(at: temp, withIntermediateDirectories: false)
            try DurableFile.writeAndSync(config, to: temp.appendingPathComponent(PEFTAdapterLoader.configFileName))
            try DurableFile.writeAndSync(weights, to: temp.appendingPathComponent(PEFTAdapterLoader.weightsFileName))
            try DurableFile.syncDirectory(temp)
            guard rename(temp.path, directory.path) == 0 else {
                throw DurableFile.Failure(description: "rename to '\(directory.path)': \(DurableFile.errnoText())")
            }
            try DurableFile.syncDirectory(parent)
        } catch {
            try? fm.removeItem(at: temp)
            throw PEFTError(.writeFailed, "cannot write '\(directory.path)': \(error)")
        }
    }

    // MARK: - Plan

    /// One module as it will be written.
    struct PlannedModule {
        let name: String
        let rank: Int
        let inFeatures: Int
        let outFeatures: Int
        let alpha: Double
        let factors: () -> (a: Matrix, b: Matrix)
    }

    static func plan(_ adapter: LoRAAdapter) throws(PEFTError) -> [PlannedModule] {
        guard !adapter.modules.isEmpty else { throw PEFTError(.cannotWrite, "the adapter has no modules") }
        var plain: [LoRAModule] = []
        var fused: [String: [String: LoRAModule]] = [:]
        for m in adapter.modules {
            if let sep = m.name.firstIndex(of: ModuleNaming.partSeparator) {
                let base = String(m.name[..<sep])
                let part = String(m.name[m.name.index(after: sep)...])
                guard ["q", "k", "v"].contains(part), fused[base]?[part] == nil else {
                    throw PEFTError(.cannotWrite, "module '\(m.name)' is not a distinct #q/#k/#v part")
                }
                fused[base, default: [:]][part] = m
            } else {
                plain.append(m)
            }
        }
        var out: [PlannedModule] = []
        var names = Set<String>()
        for m in plain {
            guard m.scale.isFinite, m.rank >= 1 else {
                throw PEFTError(.cannotWrite, "module '\(m.name)' has rank \(m.rank) and scale \(m.scale)")
            }
            names.insert(m.name)
            out.append(
                PlannedModule(
                    name: m.name, rank: m.rank, inFeatures: m.inFeatures, outFeatures: m.outFeatures,
                    alpha: m.scale * Double(m.rank), factors: { (m.a, m.b) }))
        }
        for (base, parts) in fused {
            guard let q = parts["q"], let k = parts["k"], let v = parts["v"] else {
                throw PEFTError(
                    .cannotWrite, "fused module '\(base)' lacks part(s) \(Set(["q", "k", "v"]).subtracting(parts.keys).sorted())")
            }
            guard !names.contains(base) else {
                throw PEFTError(.cannotWrite, "module '\(base)' appears both fused and unfused")
            }
            let group = [q, k, v]
            guard group.allSatisfy({ $0.inFeatures == q.inFeatures && $0.rank >= 1 && $0.scale.isFinite }) else {
                throw PEFTError(.cannotWrite, "the parts of fused module '\(base)' differ in input width")
            }
            let outFeatures = group.reduce(0) { $0 + $1.outFeatures }
            if group.allSatisfy({ $0.factorA == q.factorA && $0.scale == q.scale }) {
                out.append(
                    PlannedModule(
                        name: base, rank: q.rank, inFeatures: q.inFeatures, outFeatures: outFeatures,
                        alpha: q.scale * Double(q.rank),
                        factors: { (q.a, Matrix(rows: outFeatures, cols: q.rank, elements: group.flatMap(\.b.elements))) }))
            } else {
                let rank = group.reduce(0) { $0 + $1.rank }
                let sameScale = group.allSatisfy { $0.scale == q.scale }
                out.append(
                    PlannedModule(
                        name: base, rank: rank, inFeatures: q.inFeatures, outFeatures: outFeatures,
                        alpha: sameScale ? q.scale * Double(rank) : Double(rank),
                        factors: {
                            let a = Matrix(rows: rank, cols: q.inFeatures, elements: group.flatMap(\.a.elements))
                            var b = Matrix(zeros: outFeatures, rank)
                            var row0 = 0
                            var col0 = 0
                            for part in group {
                                let factor = sameScale ? 1 : part.scale
                                let partB = part.b
                                for i in 0..<part.outFeatures {
                                    for j in 0..<part.rank { b[row0 + i, col0 + j] = factor * partB[i, j] }
                                }
                                row0 += part.outFeatures
                                col0 += part.rank
                            }
                            return (a, b)
                        }))
            }
        }
        if let bad = out.first(where: { !$0.alpha.isFinite }) {
            throw PEFTError(.cannotWrite, "module '\(bad.name)' would need lora_alpha \(bad.alpha)")
        }
        return out.sorted { $0.name < $1.name }
    }

    private static func weightsByteSize(_ modules: [PlannedModule], dtype: DType) -> Int {
        var layouts: [SafeTensorsWriter.TensorLayout] = []
        for m in modules {
            layouts.append(.init(name: PEFTAdapterLoader.keyPrefix + m.name + ".lora_A.weight", dtype: dtype,
                                 shape: [m.rank, m.inFeatures]))
            layouts.append(.init(name: PEFTAdapterLoader.keyPrefix + m.name + ".lora_B.weight", dtype: dtype,
                                 shape: [m.outFeatures, m.rank]))
        }
        return SafeTensorsWriter.predictedByteSize(of: layouts, metadata: weightsMetadata)
    }

    /// The most frequent value (ties → the smallest).
    private static func mode<T: Hashable & Comparable>(_ values: [T]) -> T? {
        var counts: [T: Int] = [:]
        for v in values { counts[v, default: 0] += 1 }
        return counts.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key
    }

    /// `name` with every regular-expression metacharacter backslash-escaped, so that as a PEFT
    /// pattern key it matches exactly that module name.
    static func regexEscaped(_ name: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in name.unicodeScalars {
            switch scalar {
            case "\\", "^", "$", ".", "|", "?", "*", "+", "(", ")", "[", "]", "{", "}": out.append("\\")
            default: break
            }
            out.append(scalar)
        }
        return String(out)
    }

    static func configJSON(_ adapter: LoRAAdapter, _ modules: [PlannedModule]) -> Data {
        typealias M = StrictJSON.Member
        let r = mode(modules.map(\.rank)) ?? 1
        let alpha = mode(modules.map(\.alpha)) ?? 1
        var rankPattern: [M] = []
        var alphaPattern: [M] = []
        for m in modules where m.rank != r || m.alpha != alpha {
            let key = regexEscaped(m.name)
            if m.rank != r { rankPattern.append(M(key: key, value: StrictJSON.number(m.rank))) }
            if m.alpha != alpha { alphaPattern.append(M(key: key, value: StrictJSON.number(m.alpha))) }
        }
        let c = adapter.config
        let optional: (String?) -> StrictJSON.Value = { $0.map { .string($0) } ?? .null }
        let json = StrictJSON.Value.object([
            M(key: "peft_type", value: .string("LORA")),
            M(key: "task_type", value: optional(c.taskType)),
            M(key: "base_model_name_or_path", value: optional(c.baseModelNameOrPath)),
            M(key: "r", value: StrictJSON.number(r)),
            M(key: "lora_alpha", value: StrictJSON.number(alpha)),
            M(key: "use_rslora", value: .bool(false)),
            M(key: "fan_in_fan_out", value: .bool(c.fanInFanOut || adapter.architecture == .gpt2)),
            M(key: "target_modules", value: .array(modules.map { .string($0.name) })),
            M(key: "rank_pattern", value: .object(rankPattern)),
            M(key: "alpha_pattern", value: .object(alphaPattern)),
            M(key: "lora_dropout", value: .number("0.0")),
            M(key: "bias", value: .string("none")),
            M(key: "use_dora", value: .bool(false)),
            M(key: "init_lora_weights", value: .bool(true)),
            M(key: "inference_mode", value: .bool(true)),
            M(key: "modules_to_save", value: .null),
        ])
        return Data((StrictJSON.serialize(json) + "\n").utf8)
    }
}
