import Foundation
import Testing
@testable import AdapterCore

/// Applying LoRA adapters in factored form: equal to the dense-merged weights, several adapters over
/// one loaded base, and adapters that do not fit the model refused.
@Suite struct RuntimeAdapterTests {
    /// A copy of a fixture model whose adapted weights are W + s·B·A, formed densely here (the test's
    /// reference path; the runtime never forms them), saved as F32.
    static func denseMergedCopy(of name: String) throws -> URL {
        let source = RuntimeFixtures.model(name)
        let adapter = try PEFTAdapterLoader.load(directory: source.appendingPathComponent("adapter"))
        let base = try SafeTensorsFile(contentsOf: source.appendingPathComponent("model.safetensors"))
        var deltas: [String: Matrix] = [:]
        for module in adapter.modules {
            deltas[module.name + ".weight"] = module.b.multiplied(by: module.a, alpha: module.scale)
        }
        var writer = SafeTensorsWriter()
        for tensor in base.tensors {
            var values = try base.doubles(tensor.name)
            if let delta = deltas.removeValue(forKey: tensor.name) {
                #expect(delta.elements.count == values.count)
                for i in values.indices { values[i] += delta.elements[i] }
            }
            try writer.add(tensor.name, shape: tensor.shape, values: values, dtype: .f32)
        }
        #expect(deltas.isEmpty, "adapter modules without a base weight: \(deltas.keys.sorted())")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("runtime-merged-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: source.appendingPathComponent("config.json"), to: directory.appendingPathComponent("config.json"))
        try writer.write(to: directory.appendingPathComponent("model.safetensors"))
        return directory
    }

    /// Factored y = W x + s·B(A x) equals the dense-merged (W + s·B·A) x: Qwen2 (q/k/v biases, BF16
    /// base, rsLoRA on attention and MLP) and BERT (attention and MLP).
    @Test func factoredEqualsDenseMerged() throws {
        let (qwen, _) = try RuntimeFixtures.reference("qwen2")
        let merged = try Self.denseMergedCopy(of: "qwen2")
        defer { try? FileManager.default.removeItem(at: merged) }
        let factored = try DecoderModel(modelDirectory: RuntimeFixtures.model("qwen2"))
            .forward(qwen.ids, adapter: RuntimeFixtures.adapter("qwen2"))
        let dense = try DecoderModel(modelDirectory: merged).forward(qwen.ids)
        for (f, d) in zip(factored, dense) {
            #expect(RuntimeFixtures.relativeError(f.hiddenStates, d.hiddenStates) < 1e-5)
            #expect(RuntimeFixtures.relativeError(f.logits, d.logits) < 1e-5)
        }

        let (bert, _) = try RuntimeFixtures.reference("bert")
        let mergedBert = try Self.denseMergedCopy(of: "bert")
        defer { try? FileManager.default.removeItem(at: mergedBert) }
        let factoredBert = try BertModel(modelDirectory: RuntimeFixtures.model("bert"))
            .hiddenStates(bert.ids, adapter: RuntimeFixtures.adapter("bert"))
        let denseBert = try BertModel(modelDirectory: mergedBert).hiddenStates(bert.ids)
        for (f, d) in zip(factoredBert, denseBert) {
            #expect(RuntimeFixtures.relativeError(f, d) < 1e-5)
        }
    }

    /// One loaded base, several adapters passed per call: the base's own output never changes, each
    /// adapter's is reproducible, and different adapters give different outputs — also when the calls
    /// run concurrently.
    @Test func severalAdaptersShareOneLoadedBase() throws {
        let model = try DecoderModel(modelDirectory: RuntimeFixtures.model("qwen2"))
        let (reference, _) = try RuntimeFixtures.reference("qwen2")
        let first = try RuntimeFixtures.adapter("qwen2")
        let second = try FactoredLoRA(modules: first.modules.values.map { m in
            try FactoredLoRA.Module(name: m.name, a: m.a, b: m.b.map { -$0 }, rank: m.rank,
                                    inFeatures: m.inFeatures, outFeatures: m.outFeatures, scale: m.scale)
        })
        let adapters: [FactoredLoRA?] = [nil, first, second, nil, first]
        let runs = try adapters.map { try model.forward(reference.ids, adapter: $0).map(\.logits) }
        #expect(runs[0] == runs[3])
        #expect(runs[1] == runs[4])
        #expect(RuntimeFixtures.relativeError(runs[1][0], runs[2][0]) > 1e-2)
        #expect(RuntimeFixtures.relativeError(runs[0][0], runs[1][0]) > 1e-2)

        let concurrent = ConcurrentResults(count: 8)
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            concurrent.set(i, try? model.forward(reference.ids, adapter: adapters[i % 3]).map(\.logits))
        }
        for i in 0..<8 {
            #expect(concurrent.get(i) == runs[i % 3])
        }
    }

    /// A BERT batch prepared once (its embeddings and the first layer's own query, key and value) serves
    /// forward passes with several adapters and with none: each gives exactly what a batch prepared for
    /// that pass alone gives, whatever passes read it before.
    @Test func preparedBatchServesManyAdapters() throws {
        let (reference, _) = try RuntimeFixtures.reference("bert")
        let model = try BertModel(modelDirectory: RuntimeFixtures.model("bert"))
        let first = try RuntimeFixtures.adapter("bert")
        #expect(first.modules.keys.contains("encoder.layer.0.attention.self.query"))
        let second = try FactoredLoRA(modules: first.modules.values.map { m in
            try FactoredLoRA.Module(name: m.name, a: m.a, b: m.b.map { -2 * $0 }, rank: m.rank,
                                    inFeatures: m.inFeatures, outFeatures: m.outFeatures, scale: m.scale)
        })
        let prepared = try model.prepare(reference.ids)
        let adapters: [FactoredLoRA?] = [first, nil, second, first, nil]
        let shared = try adapters.map { try model.meanPooled(prepared, adapter: $0) }
        let fresh = try adapters.map { try model.meanPooled(reference.ids, adapter: $0) }
        #expect(shared == fresh)
        #expect(RuntimeFixtures.relativeError(shared[0][0], shared[1][0]) > 1e-2)
        #expect(RuntimeFixtures.relativeError(shared[0][0], shared[2][0]) > 1e-2)
    }

    /// Adapters name modules as PEFT does on the bare model too (`layers.…`, no `bert.` wrapper prefix).
    @Test func bareAndWrappedModuleNamesBindToTheSameLinears() throws {
        let (reference, _) = try RuntimeFixtures.reference("llama")
        let model = try DecoderModel(modelDirectory: RuntimeFixtures.model("llama"))
        let adapter = try RuntimeFixtures.adapter("llama")
        let bare = try Self.renamed(adapter) { String($0.dropFirst("model.".count)) }
        #expect(bare.modules.keys.allSatisfy { $0.hasPrefix("layers.") })
        #expect(try model.forward(reference.ids, adapter: bare).map(\.logits)
                == model.forward(reference.ids, adapter: adapter).map(\.logits))

        let (bertReference, _) = try RuntimeFixtures.reference("bert")
        let bert = try BertModel(modelDirectory: RuntimeFixtures.model("bert"))
        let bertAdapter = try RuntimeFixtures.adapter("bert")
        let wrapped = try Self.renamed(bertAdapter) { "bert." + $0 }
        #expect(try bert.hiddenStates(bertReference.ids, adapter: wrapped) == bert.hiddenStates(bertReference.ids, adapter: bertAdapter))
        #expect(model.adaptableLinearNames.count == 2 * 7 && bert.adaptableLinearNames.count == 2 * 6)
    }

    @Test func adaptersThatDoNotFitAreRefused() throws {
        let model = try DecoderModel(modelDirectory: RuntimeFixtures.model("llama"))
        let ids: [[Int32]] = [[0, 40, 41]]
        func module(_ name: String, inFeatures: Int = 32, outFeatures: Int = 32) throws -> FactoredLoRA.Module {
            try FactoredLoRA.Module(name: name, a: [Float](repeating: 0.1, count: 2 * inFeatures),
                                    b: [Float](repeating: 0.1, count: outFeatures * 2), rank: 2,
                                    inFeatures: inFeatures, outFeatures: outFeatures, scale: 1)
        }
        let cases: [(FactoredLoRA, String)] = [
            (try FactoredLoRA(modules: [module("model.layers.2.self_attn.q_proj")]), "model.layers.2.self_attn.q_proj"),
            (try FactoredLoRA(modules: [module("model.embed_tokens")]), "model.embed_tokens"),
            (try FactoredLoRA(modules: [module("model.layers.0.self_attn.k_proj")]), "32 → 32"),  // k is 16 wide (GQA)
            (try RuntimeFixtures.adapter("bert"), "encoder.layer.0"),
            (try FactoredLoRA(modules: [module("layers.0.self_attn.q_proj"), module("model.layers.0.self_attn.q_proj")]), "both adapt"),
        ]
        for (adapter, mention) in cases {
            #expect { try model.forward(ids, adapter: adapter) } throws: { error in
                (error as? ModelRuntimeError)?.code == .invalidAdapter && "\(error)".contains(mention)
            }
        }
        #expect(throws: ModelRuntimeError.self) {
            try FactoredLoRA.Module(name: "x", a: [.nan, 0], b: [0, 0], rank: 1, inFeatures: 2, outFeatures: 2, scale: 1)
        }
        #expect(throws: ModelRuntimeError.self) {
            try FactoredLoRA.Module(name: "x", a: [0, 0, 0], b: [0, 0], rank: 1, inFeatures: 2, outFeatures: 2, scale: 1)
        }
        // A part of a fused projection (GPT-2 c_attn) has no linear map of its own in these families.
        let fused = LoRAModule(name: "transformer.h.0.attn.c_attn#q", layer: 0, projection: .q,
                               a: Matrix(zeros: 1, 2), b: Matrix(zeros: 2, 1), scale: 1)
        let gpt2 = LoRAAdapter(config: PEFTConfig(r: 1, loraAlpha: 1), modules: [fused], architecture: .gpt2,
                               storageDType: .f32, tensorBytes: 16)
        #expect { try FactoredLoRA(gpt2) } throws: { error in
            (error as? ModelRuntimeError)?.code == .invalidAdapter && "\(error)".contains("fused")
        }
    }

    /// The MiniLM embedder passes an adapter through to its BERT model: the embedding is the normalised
    /// mean of the adapted hidden states.
    @Test func theEmbedderAppliesAnAdapter() throws {
        let embedder = try MiniLMEmbedder(modelDirectory: MiniLMFixtures.tinyModel)
        var generator = SeededGenerator(seed: 7)
        let modules = try ["encoder.layer.0.attention.self.query", "encoder.layer.1.output.dense"].map { name in
            let inFeatures = name.hasSuffix("output.dense") ? 32 : 16
            return try FactoredLoRA.Module(
                name: name, a: (0..<(2 * inFeatures)).map { _ in Float.random(in: -0.5...0.5, using: &generator) },
                b: (0..<(16 * 2)).map { _ in Float.random(in: -0.5...0.5, using: &generator) },
                rank: 2, inFeatures: inFeatures, outFeatures: 16, scale: 2)
        }
        let adapter = try FactoredLoRA(modules: modules)
        let text = "the adapters route requests"
        let adapted = try embedder.embed([text], adapter: adapter)[0]
        let pooled = try embedder.model.meanPooled([embedder.tokenizer.encode(text)], adapter: adapter)[0]
        let norm = pooled.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
        #expect(RuntimeFixtures.relativeError(adapted, pooled.map { Float(Double($0) / norm) }) < 1e-6)
        #expect(RuntimeFixtures.relativeError(adapted, try embedder.embed([text])[0]) > 1e-2)
    }

    static func renamed(_ adapter: FactoredLoRA, _ rename: (String) -> String) throws -> FactoredLoRA {
        try FactoredLoRA(modules: adapter.modules.values.map { m in
            try FactoredLoRA.Module(name: rename(m.name), a: m.a, b: m.b, rank: m.rank, inFeatures: m.inFeatures,
                                    outFeatures: m.outFeatures, scale: m.scale)
        })
    }
}

/// Results written by concurrent iterations, each to its own slot.
final class ConcurrentResults: @unchecked Sendable {
    private var slots: [[[Float]]?]
    private let lock = NSLock()

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ i: Int, _ value: [[Float]]?) { lock.withLock { slots[i] = value } }
    func get(_ i: Int) -> [[Float]]? { lock.withLock { slots[i] } }
}
