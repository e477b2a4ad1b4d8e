import Testing

@testable import AdapterCore

@Suite("ModuleNaming")
struct ModuleNamingTests {
    @Test(arguments: [
        ("model.layers.3.self_attn.q_proj", Projection.q, 3),
        ("model.layers.3.self_attn.k_proj", .k, 3),
        ("model.layers.12.self_attn.v_proj", .v, 12),
        ("model.layers.0.self_attn.o_proj", .o, 0),
        ("bert.encoder.layer.5.attention.self.query", .q, 5),
        ("bert.encoder.layer.5.attention.self.key", .k, 5),
        ("roberta.encoder.layer.1.attention.self.value", .v, 1),
        ("bert.encoder.layer.7.attention.output.dense", .o, 7),
        ("transformer.h.2.attn.c_proj", .o, 2),
    ])
    func attentionProjections(path: String, projection: Projection, layer: Int) {
        #expect(ModuleNaming.role(of: path) == .projection(projection))
        #expect(ModuleNaming.layerIndex(in: path) == layer)
    }

    @Test(arguments: [
        "bert.encoder.layer.5.intermediate.dense",  // BERT FFN in
        "bert.encoder.layer.5.output.dense",  // BERT FFN out (not attention.output.dense)
        "transformer.h.2.mlp.c_proj",  // GPT-2 FFN out
        "transformer.h.2.mlp.c_fc",
        "model.layers.3.mlp.down_proj",
        "model.layers.3.mlp.gate_up_proj",
        "transformer.h.0.self_attention.query_key_value",  // Falcon: documented as other
        "transformer.h.0.self_attention.dense",
        "encoder.block.0.layer.0.SelfAttention.q",  // T5
        "model.embed_tokens",
        "lm_head",
    ])
    func otherModules(path: String) {
        #expect(ModuleNaming.role(of: path) == .other)
        let parts = try? ModuleNaming.parts(of: path, inFeatures: 8, outFeatures: 12)
        #expect(parts == [ModuleNaming.Part(name: path, projection: nil, rows: 0..<12)])
    }

    @Test func layerIndexPrefersTheLayerContainer() {
        #expect(ModuleNaming.layerIndex(in: "model.layers.4.block_sparse_moe.experts.7.w1") == 4)
        #expect(ModuleNaming.layerIndex(in: "vision.0.layers.9.q_proj") == 9)
        #expect(ModuleNaming.layerIndex(in: "stack.2.q_proj") == 2)
        #expect(ModuleNaming.layerIndex(in: "lm_head") == nil)
    }

    @Test func gpt2FusedAttentionSplitsIntoEqualThirds() throws {
        let parts = try ModuleNaming.parts(of: "transformer.h.1.attn.c_attn", inFeatures: 16, outFeatures: 48)
        #expect(parts.map(\.name) == ["transformer.h.1.attn.c_attn#q", "transformer.h.1.attn.c_attn#k",
                                      "transformer.h.1.attn.c_attn#v"])
        #expect(parts.map(\.projection) == [.q, .k, .v])
        #expect(parts.map(\.rows) == [0..<16, 16..<32, 32..<48])
        let error = try #require(throws: PEFTError.self) {
            try ModuleNaming.parts(of: "transformer.h.1.attn.c_attn", inFeatures: 16, outFeatures: 47)
        }
        #expect(error.code == .cannotSplitFusedModule)
    }

    @Test func phi3FusedQKVUsesTheInputWidthForQ() throws {
        // Phi-3-style with grouped K/V: hidden 32, K and V 8 wide each.
        let parts = try ModuleNaming.parts(of: "model.layers.0.self_attn.qkv_proj", inFeatures: 32, outFeatures: 48)
        #expect(parts.map(\.rows) == [0..<32, 32..<40, 40..<48])
        #expect(parts.map(\.projection) == [.q, .k, .v])
        for bad in [47, 32, 20] {
            let error = try #require(throws: PEFTError.self) {
                try ModuleNaming.parts(of: "model.layers.0.self_attn.qkv_proj", inFeatures: 32, outFeatures: bad)
            }
            #expect(error.code == .cannotSplitFusedModule)
        }
    }

    @Test func detectsTheArchitectureFamily() {
        #expect(ModuleNaming.family(of: ["model.layers.0.self_attn.q_proj", "model.layers.0.mlp.up_proj"]) == .llama)
        #expect(ModuleNaming.family(of: ["model.layers.0.self_attn.qkv_proj#q", "model.layers.0.self_attn.o_proj"])
            == .phi3)
        #expect(ModuleNaming.family(of: ["transformer.h.0.attn.c_attn#k"]) == .gpt2)
        #expect(ModuleNaming.family(of: ["transformer.h.0.attn.c_proj"]) == .gpt2)
        #expect(ModuleNaming.family(of: ["bert.encoder.layer.0.attention.self.query"]) == .bert)
        #expect(ModuleNaming.family(of: ["transformer.h.0.self_attention.query_key_value"]) == .unknown)
        #expect(ModuleNaming.family(of: [String]()) == .unknown)
    }
}
