import Foundation
import Testing

@testable import AdapterCore

@Suite("PEFTAdapterWriter")
struct PEFTAdapterWriterTests {
    static func maxRelativeDifference(_ x: Matrix, _ y: Matrix) -> Double {
        let diff = Matrix(rows: x.rows, cols: x.cols, elements: zip(x.elements, y.elements).map { $0 - $1 })
        return (diff.frobeniusNormSquared / max(x.frobeniusNormSquared, 1e-300)).squareRoot()
    }

    /// Every module of `b` has the same ΔW as the module of the same name in `a`.
    static func expectSameUpdates(_ a: LoRAAdapter, _ b: LoRAAdapter, tolerance: Double,
                                  sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(a.modules.map(\.name) == b.modules.map(\.name), sourceLocation: sourceLocation)
        for (m, n) in zip(a.modules, b.modules) {
            #expect(m.layer == n.layer && m.projection == n.projection, sourceLocation: sourceLocation)
            let d = maxRelativeDifference(SyntheticPEFT.denseDelta(m), SyntheticPEFT.denseDelta(n))
            #expect(d <= tolerance, "\(m.name): relative ΔW difference \(d)", sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: DType.allCases)
    func roundTripsALoadedAdapter(dtype: DType) throws {
        let (config, weights) = try SyntheticPEFT.llama()
        let original = try PEFTAdapterLoader.load(configJSON: config, safetensors: weights)
        let files = try PEFTAdapterWriter.serialize(original, dtype: dtype)
        let reloaded = try PEFTAdapterLoader.load(configJSON: files.config, safetensors: files.weights)
        Self.expectSameUpdates(original, reloaded, tolerance: dtype == .f32 ? 1e-6 : dtype == .f16 ? 2e-3 : 1e-2)
        #expect(reloaded.storageDType == dtype)
        #expect(reloaded.config.baseModelNameOrPath == "tiny-llama" && reloaded.config.taskType == "CAUSAL_LM")
        #expect(reloaded.config.r == 4 && reloaded.config.loraAlpha == 16 && !reloaded.config.useRSLoRA)
        #expect(reloaded.config.rankPattern.isEmpty && reloaded.config.alphaPattern.isEmpty)
        #expect(Set(reloaded.config.targetModules) == Set(original.modules.map(\.name)))
        #expect(try PEFTAdapterWriter.byteSize(original, dtype: dtype) == files.config.count + files.weights.count)
        #expect(try PEFTAdapterWriter.weightsByteSize(original, dtype: dtype) == files.weights.count)
        // Deterministic output.
        let again = try PEFTAdapterWriter.serialize(original, dtype: dtype)
        #expect(again.config == files.config && again.weights == files.weights)
    }

    @Test func defaultDTypeIsF16() throws {
        let (config, weights) = try SyntheticPEFT.llama()
        let adapter = try PEFTAdapterLoader.load(configJSON: config, safetensors: weights)
        let file = try SafeTensorsFile(data: try PEFTAdapterWriter.serialize(adapter).weights)
        #expect(file.tensors.allSatisfy { $0.dtype == .f16 })
        #expect(file.metadata == ["format": "pt"])
        #expect(file.tensorNames.allSatisfy { $0.hasPrefix("base_model.model.model.layers.") })
    }

    @Test func writesPatternsForModulesWithTheirOwnRankOrScale() throws {
        let config = AdapterCore.PEFTConfig(r: 4, loraAlpha: 8)
        let modules = [
            LoRAModule(name: "model.layers.0.self_attn.q_proj", layer: 0, projection: .q,
                       a: SyntheticPEFT.matrix(4, 8, seed: 1), b: SyntheticPEFT.matrix(8, 4, seed: 2), scale: 2),
            LoRAModule(name: "model.layers.0.self_attn.v_proj", layer: 0, projection: .v,
                       a: SyntheticPEFT.matrix(4, 8, seed: 3), b: SyntheticPEFT.matrix(8, 4, seed: 4), scale: 2),
            LoRAModule(name: "model.layers.1.self_attn.q_proj", layer: 1, projection: .q,
                       a: SyntheticPEFT.matrix(7, 8, seed: 5), b: SyntheticPEFT.matrix(8, 7, seed: 6), scale: 0.3),
            LoRAModule(name: "model.layers.1.self_attn.v_proj", layer: 1, projection: .v,
                       a: SyntheticPEFT.matrix(4, 8, seed: 7), b: SyntheticPEFT.matrix(8, 4, seed: 8), scale: 1.7),
        ]
        let adapter = LoRAAdapter(config: config, modules: modules, architecture: .llama, storageDType: .f32, tensorBytes: 0)
        let files = try PEFTAdapterWriter.serialize(adapter, dtype: .f32)
        let parsed = try PEFTConfigParser.parse(files.config)
        #expect(parsed.config.r == 4 && parsed.config.loraAlpha == 8)
        #expect(parsed.config.rankPattern == [#"model\.layers\.1\.self_attn\.q_proj"#: 7])
        #expect(parsed.config.alphaPattern.count == 2)
        let reloaded = try PEFTAdapterLoader.load(configJSON: files.config, safetensors: files.weights)
        Self.expectSameUpdates(adapter, reloaded, tolerance: 1e-6)
        for (m, n) in zip(adapter.modules, reloaded.modules) {
            #expect(abs(m.scale - n.scale) <= 1e-12 * abs(m.scale))
            #expect(n.rank == m.rank)
        }
    }

    /// A pattern key matches exactly its module name: every regular-expression metacharacter escaped,
    /// everything else (letters, digits, '_', '-', '/', non-ASCII) as it is.
    @Test func patternKeysEscapeEveryMetacharacterAndNothingElse() {
        #expect(PEFTAdapterWriter.regexEscaped("model.layers.1.self_attn.q_proj") == #"model\.layers\.1\.self_attn\.q_proj"#)
        #expect(PEFTAdapterWriter.regexEscaped(#"\^$.|?*+()[]{}"#) == #"\\\^\$\.\|\?\*\+\(\)\[\]\{\}"#)
        #expect(PEFTAdapterWriter.regexEscaped("a-b/c_9é") == "a-b/c_9é")
        #expect(PEFTAdapterWriter.regexEscaped("") == "")
    }

    @Test func reFusesLoadedPartsAroundTheirSharedA() throws {
        var tensors = SyntheticPEFT.pair("transformer.h.0.attn.c_attn", r: 2, in: 8, out: 24, seed: 1)
        tensors += SyntheticPEFT.pair("transformer.h.0.attn.c_proj", r: 2, in: 8, out: 8, seed: 2)
        let config = SyntheticPEFT.config(#"{"peft_type": "LORA", "r": 2, "lora_alpha": 4, "fan_in_fan_out": true}"#)
        let original = try PEFTAdapterLoader.load(configJSON: config, safetensors: try SyntheticPEFT.weights(tensors))
        let files = try PEFTAdapterWriter.serialize(original, dtype: .f32)
        let file = try SafeTensorsFile(data: files.weights)
        // The fused module is written as PEFT had it: rank 2, A [2, 8], B [24, 2], equal to the input.
        let parts = original.modules.filter { $0.name.hasPrefix("transformer.h.0.attn.c_attn#") }
        #expect(parts.count == 3)
        #expect(try file.matrix("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight") == parts[0].a)
        #expect(try file.matrix("base_model.model.transformer.h.0.attn.c_attn.lora_B.weight")
            == Matrix(rows: 24, cols: 2, elements: parts.flatMap(\.b.elements)))
        let parsed = try PEFTConfigParser.parse(files.config)
        #expect(parsed.config.fanInFanOut)
        #expect(parsed.config.targetModules == ["transformer.h.0.attn.c_attn", "transformer.h.0.attn.c_proj"])
        Self.expectSameUpdates(original, try PEFTAdapterLoader.load(configJSON: files.config, safetensors: files.weights),
                               tolerance: 1e-6)
    }

    @Test func reFusesDivergedPartsBlockDiagonally() throws {
        // Parts with their own A, rank and scale (e.g. after merging): A stacked, B block-diagonal.
        let parts = [("q", 2, 0.5), ("k", 3, 2.0), ("v", 1, 1.0)].enumerated().map { i, p in
            LoRAModule(name: "transformer.h.0.attn.c_attn#\(p.0)", layer: 0, projection: Projection(rawValue: p.0),
                       a: SyntheticPEFT.matrix(p.1, 8, seed: UInt64(10 + i)),
                       b: SyntheticPEFT.matrix(8, p.1, seed: UInt64(20 + i)), scale: p.2)
        }
        let adapter = LoRAAdapter(config: AdapterCore.PEFTConfig(r: 2, loraAlpha: 2, fanInFanOut: true), modules: parts,
                                  architecture: .gpt2, storageDType: .f32, tensorBytes: 0)
        let files = try PEFTAdapterWriter.serialize(adapter, dtype: .f32)
        let file = try SafeTensorsFile(data: files.weights)
        #expect(file.tensor(named: "base_model.model.transformer.h.0.attn.c_attn.lora_A.weight")?.shape == [6, 8])
        #expect(file.tensor(named: "base_model.model.transformer.h.0.attn.c_attn.lora_B.weight")?.shape == [24, 6])
        let reloaded = try PEFTAdapterLoader.load(configJSON: files.config, safetensors: files.weights)
        #expect(reloaded.modules.map(\.name) == parts.map(\.name))
        #expect(reloaded.modules.allSatisfy { $0.rank == 6 && $0.scale == 1 })
        Self.expectSameUpdates(adapter, reloaded, tolerance: 1e-6)
        let incomplete = LoRAAdapter(config: adapter.config, modules: Array(parts.prefix(2)), architecture: .gpt2,
                                     storageDType: .f32, tensorBytes: 0)
        expectPEFTError(.cannotWrite) { _ = try PEFTAdapterWriter.serialize(incomplete) }
    }

    @Test func writesADirectoryThroughATemporaryOne() throws {
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("peftw-\(UUID().uuidString)")
        try fm.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: root) }
        let (config, weights) = try SyntheticPEFT.llama()
        let adapter = try PEFTAdapterLoader.load(configJSON: config, safetensors: weights)
        let out = root.appendingPathComponent("merged")
        try PEFTAdapterWriter.write(adapter, to: out)
        #expect(try fm.contentsOfDirectory(atPath: root.path) == ["merged"])
        #expect(Set(try fm.contentsOfDirectory(atPath: out.path)) == ["adapter_config.json", "adapter_model.safetensors"])
        let onDisk = try ["adapter_config.json", "adapter_model.safetensors"].reduce(0) {
            $0 + ((try fm.attributesOfItem(atPath: out.appendingPathComponent($1).path)[.size] as? Int) ?? -1)
        }
        #expect(onDisk == (try PEFTAdapterWriter.byteSize(adapter)))
        Self.expectSameUpdates(adapter, try PEFTAdapterLoader.load(directory: out), tolerance: 2e-3)
        expectPEFTError(.writeFailed) { try PEFTAdapterWriter.write(adapter, to: out) }
        #expect(try fm.contentsOfDirectory(atPath: root.path) == ["merged"])
    }
}
