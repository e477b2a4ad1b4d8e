import Foundation
import Testing
@testable import AdapterCore

/// Configurations, weights and batches of the runtime's models: what is accepted, what is refused.
@Suite struct RuntimeModelTests {
    static func scratchDirectory(_ label: String) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("runtime-\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// A copy of a fixture's config.json with `edit` applied to its text, in `directory`.
    static func writeConfig(of name: String, to directory: URL, _ edit: (String) throws -> String) throws {
        let text = try String(contentsOf: RuntimeFixtures.model(name).appendingPathComponent("config.json"), encoding: .utf8)
        try edit(text).write(to: directory.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
    }

    @Test func configurationsDispatchOnModelType() throws {
        for name in RuntimeFixtures.decoderCases {
            guard case .decoder(let c) = try ModelConfiguration(modelDirectory: RuntimeFixtures.model(name)) else {
                Issue.record("\(name) is not a decoder")
                continue
            }
            #expect(c.family.rawValue == name && c.layerCount == 2 && c.headCount == 4 && c.keyValueHeadCount == 2)
        }
        guard case .bert(let bert) = try ModelConfiguration(modelDirectory: RuntimeFixtures.model("bert")) else {
            Issue.record("bert is not BERT")
            return
        }
        #expect(bert.hiddenSize == 32)
        let qwen = try DecoderConfiguration(modelDirectory: RuntimeFixtures.model("qwen2"))
        #expect(qwen.queryKeyValueBias && !qwen.outputProjectionBias && !qwen.tiedEmbeddings && qwen.ropeTheta == 1_000_000)
        let gemma = try DecoderConfiguration(modelDirectory: RuntimeFixtures.model("gemma"))
        #expect(gemma.gemmaScaling && gemma.activation == .geluTanh && gemma.headSize == 8 && gemma.tiedEmbeddings)
        let mistral = try DecoderConfiguration(modelDirectory: RuntimeFixtures.model("mistral"))
        #expect(mistral.maxPositions == 48 && mistral.headSize == 16)  // bounded by its sliding window
        if RuntimeFixtures.llamaTinyPresent {
            let tiny = try DecoderConfiguration(modelDirectory: RuntimeFixtures.llamaTiny)
            #expect(tiny.ropeTheta == 10_000 && tiny.keyValueHeadCount == 2 && tiny.tiedEmbeddings)
        }
    }

    /// `BaseModel` loads whichever family a directory holds and gives its hidden states.
    @Test func baseModelLoadsEitherFamily() throws {
        let (bertReference, bertTensors) = try RuntimeFixtures.reference("bert")
        let bert = try BaseModel(modelDirectory: RuntimeFixtures.model("bert"))
        guard case .bert = bert else { Issue.record("bert loaded as a decoder"); return }
        #expect(RuntimeFixtures.relativeError(try bert.hiddenStates(bertReference.ids)[0], try bertTensors.floats("base.hidden.0")) <= 1e-4)
        let (reference, tensors) = try RuntimeFixtures.reference("qwen2")
        let qwen = try BaseModel(modelDirectory: RuntimeFixtures.model("qwen2"))
        guard case .decoder = qwen else { Issue.record("qwen2 loaded as BERT"); return }
        let adapted = try qwen.hiddenStates(reference.ids, adapter: RuntimeFixtures.adapter("qwen2"))
        #expect(RuntimeFixtures.relativeError(adapted[1], try tensors.floats("adapter.hidden.1")) <= 1e-4)
        #expect(qwen.adaptableLinearNames.contains("model.layers.1.mlp.down_proj"))
    }

    /// Variants that would compute something else are refused, each naming what it found.
    @Test func configurationsTheRuntimeDoesNotImplementAreRefused() throws {
        let directory = try Self.scratchDirectory("config")
        defer { try? FileManager.default.removeItem(at: directory) }
        let cases: [(String, (String) throws -> String, ModelRuntimeError.Code, String)] = [
            ("llama", { $0.replacingOccurrences(of: "\"model_type\": \"llama\"", with: "\"model_type\": \"gpt2\"") }, .unsupportedModel, "gpt2"),
            ("llama", { $0.replacingOccurrences(of: "\"model_type\": \"llama\"", with: "\"model_type\": \"gemma2\"") }, .unsupportedModel, "gemma2"),
            ("llama", { $0.replacingOccurrences(of: "\"rope_type\": \"default\"", with: "\"rope_type\": \"llama3\"") }, .invalidConfiguration, "llama3"),
            ("llama", { $0.replacingOccurrences(of: "\"hidden_act\": \"silu\"", with: "\"hidden_act\": \"relu\"") }, .invalidConfiguration, "relu"),
            ("llama", { $0.replacingOccurrences(of: "\"num_key_value_heads\": 2", with: "\"num_key_value_heads\": 3") }, .invalidConfiguration, "num_key_value_heads"),
            ("llama", { $0.replacingOccurrences(of: "\"hidden_size\": 32", with: "\"hidden_size\": 32.5") }, .invalidConfiguration, "hidden_size"),
            ("llama", { $0.replacingOccurrences(of: "{", with: "{\"partial_rotary_factor\": 0.5, ") }, .invalidConfiguration, "partial_rotary_factor"),
            ("gemma", { $0.replacingOccurrences(of: "{", with: "{\"use_bidirectional_attention\": true, ") }, .invalidConfiguration, "bidirectional"),
        ]
        for (name, edit, code, mention) in cases {
            try Self.writeConfig(of: name, to: directory, edit)
            #expect { try ModelConfiguration(modelDirectory: directory) } throws: { error in
                (error as? ModelRuntimeError)?.code == code && "\(error)".contains(mention)
            }
        }
        // The fixture's own files do contain what the edits above replace.
        let llama = try String(contentsOf: RuntimeFixtures.model("llama").appendingPathComponent("config.json"), encoding: .utf8)
        for text in ["\"rope_type\": \"default\"", "\"hidden_act\": \"silu\"", "\"num_key_value_heads\": 2", "\"hidden_size\": 32"] {
            #expect(llama.contains(text))
        }
    }

    @Test func weightsThatDoNotFitTheConfigurationAreRefused() throws {
        let directory = try Self.scratchDirectory("weights")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.copyItem(at: RuntimeFixtures.model("mistral").appendingPathComponent("model.safetensors"),
                                         to: directory.appendingPathComponent("model.safetensors"))
        // Untied output without an lm_head tensor.
        try Self.writeConfig(of: "mistral", to: directory) {
            $0.replacingOccurrences(of: "\"tie_word_embeddings\": true", with: "\"tie_word_embeddings\": false")
        }
        #expect { try DecoderModel(modelDirectory: directory) } throws: { error in
            (error as? ModelRuntimeError)?.code == .invalidWeights && "\(error)".contains("lm_head")
        }
        // Another intermediate size than the tensors have.
        try Self.writeConfig(of: "mistral", to: directory) {
            $0.replacingOccurrences(of: "\"intermediate_size\": 64", with: "\"intermediate_size\": 48")
        }
        #expect { try DecoderModel(modelDirectory: directory) } throws: { error in
            (error as? ModelRuntimeError)?.code == .invalidWeights && "\(error)".contains("gate_proj")
        }
        // A truncated weights file.
        try Self.writeConfig(of: "mistral", to: directory) { $0 }
        let bytes = try Data(contentsOf: directory.appendingPathComponent("model.safetensors"))
        try bytes.prefix(bytes.count - 64).write(to: directory.appendingPathComponent("model.safetensors"))
        #expect { try DecoderModel(modelDirectory: directory) } throws: { error in
            (error as? ModelRuntimeError)?.code == .invalidWeights
        }
        try FileManager.default.removeItem(at: directory.appendingPathComponent("model.safetensors"))
        #expect { try DecoderModel(modelDirectory: directory) } throws: { error in
            (error as? ModelRuntimeError)?.code == .unreadableFile && "\(error)".contains("model.safetensors")
        }
    }

    /// Weights split over shards named by model.safetensors.index.json load to the same model; an index
    /// that names a file outside the directory or misplaces a tensor is refused.
    @Test func shardedWeightsLoadLikeOneFile() throws {
        let directory = try Self.scratchDirectory("shards")
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = RuntimeFixtures.model("llama")
        try FileManager.default.copyItem(at: source.appendingPathComponent("config.json"), to: directory.appendingPathComponent("config.json"))
        let file = try SafeTensorsFile(contentsOf: source.appendingPathComponent("model.safetensors"))
        var shards = [SafeTensorsWriter(), SafeTensorsWriter()]
        var map: [String: String] = [:]
        for (i, tensor) in file.tensors.enumerated() {
            try shards[i % 2].add(tensor.name, shape: tensor.shape, values: file.doubles(tensor.name), dtype: .f16)
            map[tensor.name] = "model-0000\(i % 2 + 1)-of-00002.safetensors"
        }
        for (i, shard) in shards.enumerated() {
            try shard.write(to: directory.appendingPathComponent("model-0000\(i + 1)-of-00002.safetensors"))
        }
        func writeIndex(_ map: [String: String]) throws {
            let data = try JSONSerialization.data(withJSONObject: ["metadata": [String: String](), "weight_map": map])
            try data.write(to: directory.appendingPathComponent(BaseModelWeights.indexFileName))
        }
        try writeIndex(map)
        let (reference, _) = try RuntimeFixtures.reference("llama")
        let sharded = try DecoderModel(modelDirectory: directory).forward(reference.ids).map(\.logits)
        let single = try DecoderModel(modelDirectory: source).forward(reference.ids).map(\.logits)
        #expect(sharded == single)

        var outside = map
        outside["lm_head.weight"] = "../model.safetensors"
        try writeIndex(outside)
        #expect { try DecoderModel(modelDirectory: directory) } throws: { error in
            (error as? ModelRuntimeError)?.code == .invalidWeights && "\(error)".contains("../model.safetensors")
        }
        var misplaced = map
        misplaced["lm_head.weight"] = map["lm_head.weight"] == "model-00001-of-00002.safetensors"
            ? "model-00002-of-00002.safetensors" : "model-00001-of-00002.safetensors"
        try writeIndex(misplaced)
        #expect { try DecoderModel(modelDirectory: directory) } throws: { error in
            (error as? ModelRuntimeError)?.code == .invalidWeights && "\(error)".contains("lm_head.weight")
        }
    }

    /// Sequences of a batch are independent (each starts at position 0 and attends only to its own
    /// earlier tokens), and the logit selection only selects.
    @Test func packedDecoderBatchesEqualSeparateRuns() throws {
        let model = try DecoderModel(modelDirectory: RuntimeFixtures.model("gemma"))
        let adapter = try RuntimeFixtures.adapter("gemma")
        let sequences: [[Int32]] = [[0, 50, 60, 70, 80], [0, 51], [0, 50, 60, 71, 90, 91, 92]]
        let batch = try model.forward(sequences, adapter: adapter)
        let last = try model.forward(sequences, adapter: adapter, logits: .last)
        let none = try model.forward(sequences, adapter: adapter, logits: .none)
        let tail = try model.forward(sequences, adapter: adapter, logits: .lastRows(3))
        let vocabulary = model.configuration.vocabularySize
        for (i, sequence) in sequences.enumerated() {
            let alone = try model.forward([sequence], adapter: adapter)[0]
            #expect(RuntimeFixtures.relativeError(batch[i].logits, alone.logits) < 1e-6)
            #expect(RuntimeFixtures.relativeError(batch[i].hiddenStates, alone.hiddenStates) < 1e-6)
            // The same rows, projected as a smaller product: equal to rounding (OpenBLAS's kernels for a
            // few rows and for many round differently on some CPUs, e.g. AVX-512 ones).
            try #require(last[i].logits.count == vocabulary)
            #expect(RuntimeFixtures.relativeError(last[i].logits, Array(batch[i].logits.suffix(vocabulary))) < 1e-6)
            #expect(tail[i].logits.count == min(3, sequence.count) * vocabulary)
            #expect(RuntimeFixtures.relativeError(tail[i].logits, Array(batch[i].logits.suffix(min(3, sequence.count) * vocabulary))) < 1e-6)
            #expect(none[i].logits.isEmpty && none[i].hiddenStates == batch[i].hiddenStates)
        }
        // Causality: a later token does not change the earlier tokens' outputs; it does change its own.
        let prefix = try model.forward([[0, 50, 60, 70]], adapter: adapter)[0].logits
        #expect(RuntimeFixtures.relativeError(Array(batch[0].logits.prefix(4 * vocabulary)), prefix) < 1e-6)
        let other = try model.forward([[0, 50, 60, 71, 80]], adapter: adapter)[0].logits
        #expect(RuntimeFixtures.relativeError(Array(other.suffix(vocabulary)), Array(batch[0].logits.suffix(vocabulary))) > 1e-3)
    }

    @Test func badSequencesAreClearErrors() throws {
        let model = try DecoderModel(modelDirectory: RuntimeFixtures.model("mistral"))
        #expect(try model.forward([]).isEmpty)
        let cases: [([[Int32]], String)] = [
            ([[0, 320]], "320"), ([[0, -1]], "-1"), ([[]], "0 tokens"),
            ([[Int32](repeating: 5, count: 49)], "49 tokens"),  // past the sliding window of 48
        ]
        for (sequences, mention) in cases {
            #expect { try model.forward(sequences) } throws: { error in
                (error as? ModelRuntimeError)?.code == .invalidArgument && "\(error)".contains(mention)
            }
        }
        #expect(try model.forward([[Int32](repeating: 5, count: 48)])[0].logits.count == 48 * 320)
    }

    /// The layer weights a forward pass multiplies each token by are counted as the fixtures' files hold
    /// them: every two-dimensional weight inside a layer (embeddings, norms and biases aside).
    @Test(arguments: ["bert"] + RuntimeFixtures.decoderCases)
    func layerParameterCountIsTheLayersLinearWeights(name: String) throws {
        let directory = RuntimeFixtures.model(name)
        let model = try BaseModel(modelDirectory: directory)
        let file = try SafeTensorsFile(contentsOf: directory.appendingPathComponent("model.safetensors"))
        let linear = file.tensors.filter {
            $0.shape.count == 2 && $0.name.hasSuffix(".weight") && ($0.name.contains(".layer.") || $0.name.contains(".layers."))
        }
        #expect(linear.count >= 6)
        #expect(model.layerParameterCount == linear.reduce(0) { $0 + $1.elementCount })
    }
}
