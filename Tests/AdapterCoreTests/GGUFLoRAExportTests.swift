import Foundation
import Testing

@testable import AdapterCore

@Suite("GGUFLoRAExport")
struct GGUFLoRAExportTests {
    /// A module whose factors hold distinct values (element index + offset), so any reordering shows.
    static func module(_ name: String, layer: Int, _ projection: Projection?, rank: Int, inFeatures: Int,
                       outFeatures: Int, scale: Double, offset: Double) -> LoRAModule {
        let a = Matrix(rows: rank, cols: inFeatures, elements: (0..<(rank * inFeatures)).map { offset + Double($0) / 64 })
        let b = Matrix(rows: outFeatures, cols: rank, elements: (0..<(outFeatures * rank)).map { -offset - Double($0) / 32 })
        return LoRAModule(name: name, layer: layer, projection: projection, a: a, b: b, scale: scale)
    }

    /// A Llama-shaped adapter: 2 layers; hidden 8, 2 heads of 4, 1 KV head (k/v 4 rows); rank 2,
    /// scale 2 (alpha 4) except layer 1's down_proj (scale 3: its ratio must be folded into lora_b).
    static func llamaAdapter(baseModel: String? = "meta-llama/Llama-3.2-1B") -> LoRAAdapter {
        var modules: [LoRAModule] = []
        for layer in 0..<2 {
            let p = "model.layers.\(layer)."
            modules += [
                module(p + "self_attn.q_proj", layer: layer, .q, rank: 2, inFeatures: 8, outFeatures: 8, scale: 2, offset: 1),
                module(p + "self_attn.k_proj", layer: layer, .k, rank: 2, inFeatures: 8, outFeatures: 4, scale: 2, offset: 2),
                module(p + "self_attn.v_proj", layer: layer, .v, rank: 2, inFeatures: 8, outFeatures: 4, scale: 2, offset: 3),
                module(p + "self_attn.o_proj", layer: layer, .o, rank: 2, inFeatures: 8, outFeatures: 8, scale: 2, offset: 4),
                module(p + "mlp.gate_proj", layer: layer, nil, rank: 2, inFeatures: 8, outFeatures: 12, scale: 2, offset: 5),
                module(p + "mlp.up_proj", layer: layer, nil, rank: 2, inFeatures: 8, outFeatures: 12, scale: 2, offset: 6),
                module(p + "mlp.down_proj", layer: layer, nil, rank: 2, inFeatures: 12, outFeatures: 8,
                       scale: layer == 1 ? 3 : 2, offset: 7),
            ]
        }
        return LoRAAdapter(config: PEFTConfig(baseModelNameOrPath: baseModel, r: 2, loraAlpha: 4), modules: modules,
                           architecture: .llama, storageDType: .f32, tensorBytes: 0)
    }

    @Test func llamaExportHasLlamaCppMetadataNamesShapesAndValues() throws {
        let adapter = Self.llamaAdapter()
        let data = try GGUFLoRAExport.serialize(
            adapter, options: .init(architecture: .llama, headCount: 2, keyValueHeadCount: 1, dtype: .f32))
        let read = try GGUFTestReader(data)
        #expect(read.keyValues["general.architecture"] as? String == "llama")
        #expect(read.keyValues["general.type"] as? String == "adapter")
        #expect(read.keyValues["adapter.type"] as? String == "lora")
        #expect(read.keyTypes["adapter.lora.alpha"] == 6)  // float32
        #expect(read.keyValues["adapter.lora.alpha"] as? Float == 4)  // scale 2 × rank 2, unfolded
        #expect(read.tensors.count == 28)
        let names = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]
        for layer in 0..<2 {
            for (name, m) in zip(names, adapter.modules[(7 * layer)..<(7 * layer + 7)]) {
                let a = try #require(read.tensor("blk.\(layer).\(name).weight.lora_a"))
                let b = try #require(read.tensor("blk.\(layer).\(name).weight.lora_b"))
                #expect(a.dims == [m.inFeatures, m.rank])  // PEFT [r, in] reversed
                #expect(b.dims == [m.rank, m.outFeatures])  // PEFT [out, r] reversed
                #expect(a.values == m.a.elements)
                let fold = layer == 1 && name == "ffn_down" ? 1.5 : 1  // (3 × 2) / 4
                let expectedB = m.b.elements.map { $0 * fold }
                if name == "attn_q" || name == "attn_k" {
                    #expect(b.values != expectedB)
                    #expect(b.values.sorted() == expectedB.sorted())
                } else {
                    #expect(b.values == expectedB)
                }
            }
        }
    }

    @Test func queryRowsFollowLlamaCppsRotaryPermutation() throws {
        // 2 heads of 4 rows each: within a head rows [0 1 | 2 3] (two rotary halves) become [0 2 1 3].
        let m = Matrix(rows: 8, cols: 1, elements: (0..<8).map(Double.init))
        let permuted = try GGUFLoRAExport.rotaryRowsPermuted(m, heads: 2, tensor: "q")
        #expect(permuted.elements == [0, 2, 1, 3, 4, 6, 5, 7])
        #expect(throws: GGUFError.self) { try GGUFLoRAExport.rotaryRowsPermuted(m, heads: 3, tensor: "q") }
        // Qwen2 keeps HF row order.
        let qwen = try GGUFTestReader(GGUFLoRAExport.serialize(Self.llamaAdapter(), options: .init(architecture: .qwen2, dtype: .f32)))
        #expect(qwen.keyValues["general.architecture"] as? String == "qwen2")
        #expect(qwen.tensor("blk.0.attn_q.weight.lora_b")?.values == Self.llamaAdapter().modules[0].b.elements)
    }

    @Test func llamaWithoutHeadCountsIsRefusedNotWrittenInTheWrongOrder() {
        #expect {
            try GGUFLoRAExport.serialize(Self.llamaAdapter(), options: .init(architecture: .llama, dtype: .f32))
        } throws: { ($0 as? GGUFError)?.code == .invalidBaseConfig }
    }

    @Test(arguments: [
        ("model.layers.0.self_attn.q_proj", GGUFLoRAArchitecture.qwen2, "blk.0.attn_q"),
        ("model.layers.11.self_attn.o_proj", .gemma, "blk.11.attn_output"),
        ("model.layers.3.mlp.down_proj", .gemma2, "blk.3.ffn_down"),
        ("model.layers.2.mlp.gate_proj", .mistral, "blk.2.ffn_gate"),
        ("model.layers.1.self_attn.qkv_proj", .phi3, "blk.1.attn_qkv"),
        ("model.layers.1.mlp.gate_up_proj", .phi3, "blk.1.ffn_up"),
        ("model.layers.0.self_attn.v_proj", .gemma3, "blk.0.attn_v"),
    ])
    func modulePathsMapToGGUFNames(path: String, architecture: GGUFLoRAArchitecture, stem: String) throws {
        #expect(try GGUFLoRAExport.tensorStem(forModule: path, architecture: architecture) == stem)
    }

    @Test func unmappedModulesAreRefused() {
        for path in ["model.embed_tokens", "lm_head", "model.layers.x.self_attn.q_proj", "model.layers.0.self_attn.qkv_proj"] {
            #expect(throws: GGUFError.self) { try GGUFLoRAExport.tensorStem(forModule: path, architecture: .llama) }
        }
    }

    @Test func architectureNamesAndModelIDs() {
        #expect(GGUFLoRAArchitecture(name: "LlamaForCausalLM") == .llama)
        #expect(GGUFLoRAArchitecture(name: "MistralForCausalLM")?.ggufName == "llama")
        #expect(GGUFLoRAArchitecture(name: "Qwen2ForCausalLM") == .qwen2)
        #expect(GGUFLoRAArchitecture(name: "gemma3_text") == .gemma3)
        #expect(GGUFLoRAArchitecture(name: "Phi3ForCausalLM") == .phi3)
        #expect(GGUFLoRAArchitecture(name: "BertModel") == nil)
        #expect(GGUFLoRAArchitecture(modelID: "adapterd-corpus/llama-tiny") == .llama)
        #expect(GGUFLoRAArchitecture(modelID: "google/gemma-2-2b") == .gemma2)
        #expect(GGUFLoRAArchitecture(modelID: "microsoft/Phi-3-mini-4k-instruct") == .phi3)
        #expect(GGUFLoRAArchitecture(modelID: "sentence-transformers/all-MiniLM-L6-v2") == nil)
    }

    @Test func bertAdaptersAreRefusedNamingTheArchitecture() throws {
        let m = Self.module("bert.encoder.layer.0.attention.self.query", layer: 0, .q, rank: 2, inFeatures: 8,
                            outFeatures: 8, scale: 1, offset: 1)
        let adapter = LoRAAdapter(config: PEFTConfig(baseModelNameOrPath: "sentence-transformers/all-MiniLM-L6-v2", r: 2, loraAlpha: 2),
                                  modules: [m], architecture: .bert, storageDType: .f16, tensorBytes: 0)
        #expect {
            try GGUFLoRAExport.serialize(adapter, options: .init(architecture: .llama, dtype: .f16))
        } throws: { error in
            guard let e = error as? GGUFError else { return false }
            return e.code == .unsupportedArchitecture && e.message.contains("bert") && e.message.contains("all-MiniLM-L6-v2")
        }
    }

    @Test func baseConfigGivesArchitectureAndHeadCounts() throws {
        let config = try GGUFBaseModelConfig(configJSON: Data(#"{"architectures":["LlamaForCausalLM"],"num_attention_heads":4,"num_key_value_heads":2}"#.utf8))
        #expect(config.architecture == .llama && config.headCount == 4 && config.keyValueHeadCount == 2)
        let bert = try GGUFBaseModelConfig(configJSON: Data(#"{"architectures":["BertModel"],"num_attention_heads":12}"#.utf8))
        #expect(bert.architecture == nil && bert.architectureName == "BertModel" && bert.keyValueHeadCount == 12)
        #expect(throws: GGUFError.self) { try GGUFBaseModelConfig(configJSON: Data(#"{"num_attention_heads":"4"}"#.utf8)) }
        #expect(throws: GGUFError.self) { try GGUFBaseModelConfig(configJSON: Data("[]".utf8)) }
    }

    @Test func f16ExportRoundsEachValueToNearest() throws {
        let data = try GGUFLoRAExport.serialize(Self.llamaAdapter(), options: .init(architecture: .qwen2, dtype: .f16))
        let read = try GGUFTestReader(data)
        let a = try #require(read.tensor("blk.0.attn_v.weight.lora_a"))
        #expect(a.type == 1)
        let source = Self.llamaAdapter().modules[2].a.elements
        #expect(a.values == source.map { Double(Float16($0)) })
    }

    /// ΔW that llama.cpp applies for a tensor pair: (alpha / r) · B · A with r = lora_b's inner dim.
    static func llamaCppDelta(_ read: GGUFTestReader, _ stem: String) throws -> Matrix {
        let alpha = Double(try #require(read.keyValues["adapter.lora.alpha"] as? Float))
        let a = try #require(read.tensor(stem + ".weight.lora_a"))
        let b = try #require(read.tensor(stem + ".weight.lora_b"))
        let am = Matrix(rows: a.dims[1], cols: a.dims[0], elements: a.values)
        let bm = Matrix(rows: b.dims[1], cols: b.dims[0], elements: b.values)
        return (bm * am).scaled(alpha / Double(b.dims[0]))
    }

    @Test func rsLoRAAndRankPatternsGiveTheSameUpdatesUnderLlamaCppsScaling() throws {
        let dir = try #require(LowRankFixtureTests.fixturesURL).appendingPathComponent("peft/llama_rslora_rankpattern")
        let adapter = try PEFTAdapterLoader.load(directory: dir)
        let read = try GGUFTestReader(GGUFLoRAExport.serialize(adapter, options: .init(architecture: .qwen2, dtype: .f32)))
        #expect(read.tensors.count == 2 * adapter.modules.count)
        for m in adapter.modules {
            let stem = try GGUFLoRAExport.tensorStem(forModule: m.name, architecture: .qwen2)
            let got = try Self.llamaCppDelta(read, stem)
            let want = SyntheticPEFT.denseDelta(m)
            #expect(PEFTAdapterWriterTests.maxRelativeDifference(want, got) <= 1e-6, "\(m.name)")
        }
    }

    @Test func phi3FusedQKVIsOneAttnQKVPair() throws {
        let dir = try #require(LowRankFixtureTests.fixturesURL).appendingPathComponent("peft/phi3_fused")
        let adapter = try PEFTAdapterLoader.load(directory: dir)
        let read = try GGUFTestReader(GGUFLoRAExport.serialize(adapter, options: .init(architecture: .phi3, dtype: .f32)))
        #expect(read.keyValues["general.architecture"] as? String == "phi3")
        for layer in Set(adapter.modules.compactMap(\.layer)) {
            let parts = ["q", "k", "v"].map { p in adapter.modules.first { $0.name == "model.layers.\(layer).self_attn.qkv_proj#\(p)" }! }
            let stacked = parts.map(SyntheticPEFT.denseDelta)
            let want = Matrix(rows: stacked.reduce(0) { $0 + $1.rows }, cols: stacked[0].cols, elements: stacked.flatMap(\.elements))
            let got = try Self.llamaCppDelta(read, "blk.\(layer).attn_qkv")
            #expect(PEFTAdapterWriterTests.maxRelativeDifference(want, got) <= 1e-6)
            #expect(read.tensor("blk.\(layer).attn_output.weight.lora_a") != nil)
        }
    }
}
