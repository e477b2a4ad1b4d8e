import Foundation
import Testing

@testable import AdapterCore

/// Builds synthetic PEFT adapters for tests, using SafeTensorsWriter for the weights.
enum SyntheticPEFT {
    /// A deterministic pseudo-random matrix with entries in [-0.5, 0.5), exactly representable in F32.
    static func matrix(_ rows: Int, _ cols: Int, seed: UInt64) -> Matrix {
        var generator = SeededGenerator(seed: seed)
        let elements = (0..<(rows * cols)).map { _ in Double(Float(generator.nextUnitDouble() - 0.5)) }
        return Matrix(rows: rows, cols: cols, elements: elements)
    }

    static func weights(_ tensors: [(String, Matrix)], dtype: DType = .f32) throws -> Data {
        var w = SafeTensorsWriter()
        for (name, m) in tensors { try w.add(name, matrix: m, dtype: dtype) }
        return w.serialized()
    }

    /// lora_A/lora_B pair for a module with PEFT's key format.
    static func pair(_ module: String, r: Int, in inF: Int, out outF: Int, seed: UInt64) -> [(String, Matrix)] {
        [("base_model.model.\(module).lora_A.weight", matrix(r, inF, seed: seed)),
         ("base_model.model.\(module).lora_B.weight", matrix(outF, r, seed: seed + 1000))]
    }

    static func config(_ json: String) -> Data { Data(json.utf8) }

    /// A small Llama-shaped adapter with GQA: hidden 16, k/v 8 wide, two layers, q/k/v/o.
    static func llama(r: Int = 4, dtype: DType = .f32) throws -> (config: Data, weights: Data) {
        var tensors: [(String, Matrix)] = []
        var seed: UInt64 = 1
        for layer in 0..<2 {
            for (p, out) in [("q", 16), ("k", 8), ("v", 8), ("o", 16)] {
                tensors += pair("model.layers.\(layer).self_attn.\(p)_proj", r: r, in: 16, out: out, seed: seed)
                seed += 1
            }
        }
        let config = config(#"""
            {"peft_type": "LORA", "r": \#(r), "lora_alpha": 16, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
             "base_model_name_or_path": "tiny-llama", "task_type": "CAUSAL_LM", "use_rslora": false}
            """#)
        return (config, try weights(tensors, dtype: dtype))
    }

    static func denseDelta(_ m: LoRAModule) -> Matrix { m.b.multiplied(by: m.a, alpha: m.scale) }
}

func expectPEFTError(_ code: PEFTError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected PEFTError.\(code), nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as PEFTError {
        #expect(error.code == code, "\(error.message)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected PEFTError.\(code), got \(error)", sourceLocation: sourceLocation)
    }
}

@Suite("PEFTAdapterLoader")
struct PEFTAdapterLoaderTests {
    @Test func loadsALlamaShapedAdapterWithGQA() throws {
        let (config, weights) = try SyntheticPEFT.llama()
        let adapter = try PEFTAdapterLoader.load(configJSON: config, safetensors: weights)
        #expect(adapter.architecture == .llama)
        #expect(adapter.modules.count == 8)
        #expect(adapter.layerCount == 2)
        #expect(adapter.config.baseModelNameOrPath == "tiny-llama")
        #expect(adapter.config.targetModules == ["q_proj", "k_proj", "v_proj", "o_proj"])
        #expect(adapter.storageDType == .f32)
        #expect(adapter.tensorBytes == weights.count - 8 - (try SafeTensorsFile(data: weights).headerLength))
        let k = try #require(adapter.modules.first { $0.name == "model.layers.1.self_attn.k_proj" })
        #expect(k.layer == 1 && k.projection == .k && k.rank == 4 && k.inFeatures == 16 && k.outFeatures == 8)
        #expect(k.scale == 4)  // 16 / 4
        #expect(k.a == SyntheticPEFT.matrix(4, 16, seed: 6))
        #expect(adapter.modules(for: .q).map(\.layer) == [0, 1])
        // Sorted by layer, then projection.
        #expect(adapter.modules.map { $0.projection! } == [.q, .k, .v, .o, .q, .k, .v, .o])
    }

    @Test(arguments: [DType.f16, .bf16])
    func recordsTheStorageDType(dtype: DType) throws {
        let (config, weights) = try SyntheticPEFT.llama(dtype: dtype)
        let adapter = try PEFTAdapterLoader.load(configJSON: config, safetensors: weights)
        #expect(adapter.storageDType == dtype)
    }

    @Test func rsLoRAScalesByTheSquareRootOfTheRank() throws {
        let weights = try SyntheticPEFT.weights(SyntheticPEFT.pair("model.layers.0.self_attn.q_proj", r: 4, in: 8, out: 8, seed: 3))
        let config = SyntheticPEFT.config(#"{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "use_rslora": true}"#)
        let adapter = try PEFTAdapterLoader.load(configJSON: config, safetensors: weights)
        #expect(adapter.modules[0].scale == 4)  // 8 / √4
        #expect(adapter.config.useRSLoRA)
    }

    @Test func rankAndAlphaPatternsOverridePerModule() throws {
        var tensors = SyntheticPEFT.pair("model.layers.0.self_attn.q_proj", r: 2, in: 8, out: 8, seed: 1)
        tensors += SyntheticPEFT.pair("model.layers.1.self_attn.q_proj", r: 8, in: 8, out: 8, seed: 2)
        tensors += SyntheticPEFT.pair("model.layers.1.self_attn.v_proj", r: 6, in: 8, out: 8, seed: 3)
        // "layers.1.self_attn.q_proj" must match layer 1 only (suffix after a dot), not layer 11;
        // "v_proj" is a plain suffix; the regex key applies to layer 0's q_proj; first key in file order wins.
        let config = SyntheticPEFT.config(#"""
            {"peft_type": "LORA", "r": 4, "lora_alpha": 8,
             "rank_pattern": {"layers.1.self_attn.q_proj": 8, "v_proj": 6, "layers\\.0\\..*q_proj": 2, "q_proj": 99},
             "alpha_pattern": {"layers.1.self_attn.q_proj": 32, "v_proj": 3}}
            """#)
        let adapter = try PEFTAdapterLoader.load(configJSON: config, safetensors: try SyntheticPEFT.weights(tensors))
        let byName = Dictionary(uniqueKeysWithValues: adapter.modules.map { ($0.name, $0) })
        #expect(byName["model.layers.0.self_attn.q_proj"]?.scale == 4)  // 8 / 2
        #expect(byName["model.layers.1.self_attn.q_proj"]?.scale == 4)  // 32 / 8
        #expect(byName["model.layers.1.self_attn.v_proj"]?.scale == 0.5)  // 3 / 6
        // With only "q_proj": 99, layer 0's rank-2 factors no longer fit.
        let bad = SyntheticPEFT.config(#"{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "rank_pattern": {"q_proj": 99}}"#)
        expectPEFTError(.rankMismatch) {
            _ = try PEFTAdapterLoader.load(configJSON: bad, safetensors: try SyntheticPEFT.weights(tensors))
        }
        let parsed = try PEFTConfigParser.parse(config)
        #expect(parsed.rankPatternKeys == ["layers.1.self_attn.q_proj", "v_proj", "layers\\.0\\..*q_proj", "q_proj"])
        // Layer 11 is not matched by "layers.1.self_attn.q_proj" and falls through to "q_proj".
        #expect(try parsed.rankAndScale(forModule: "model.layers.11.self_attn.q_proj").rank == 99)
        #expect(PEFTConfigParser.patternMatches("q_proj", module: "a.q_proj"))
        #expect(PEFTConfigParser.patternMatches("q_proj", module: "q_proj"))
        #expect(!PEFTConfigParser.patternMatches("q_proj", module: "a.xq_proj"))
        #expect(!PEFTConfigParser.patternMatches("layers.1.q", module: "m.layers.11.q"))
    }

    @Test func parsesConfigFieldsAndDefaults() throws {
        let minimal = try PEFTConfigParser.parse(SyntheticPEFT.config(#"{"peft_type": "LORA"}"#))
        #expect(minimal.config.r == 8 && minimal.config.loraAlpha == 8 && !minimal.config.fanInFanOut)
        let full = try PEFTConfigParser.parse(SyntheticPEFT.config(#"""
            {"peft_type": "LORA", "r": 16, "lora_alpha": 32.5, "fan_in_fan_out": true, "target_modules": ".*attn.*",
             "task_type": null, "modules_to_save": ["classifier"], "rank_pattern": null, "use_dora": false}
            """#))
        #expect(full.config.loraAlpha == 32.5 && full.config.fanInFanOut && full.config.taskType == nil)
        #expect(full.config.targetModules == [".*attn.*"] && full.targetModulesIsRegex)
        #expect(full.modulesToSave == ["classifier"])
        expectPEFTError(.unsupportedPEFTType) { _ = try PEFTConfigParser.parse(SyntheticPEFT.config(#"{"peft_type": "IA3"}"#)) }
        expectPEFTError(.invalidConfig) { _ = try PEFTConfigParser.parse(SyntheticPEFT.config(#"{"r": 4}"#)) }
        expectPEFTError(.invalidConfig) {
            _ = try PEFTConfigParser.parse(SyntheticPEFT.config(#"{"peft_type": "LORA", "r": 4.5}"#))
        }
        expectPEFTError(.invalidConfig) {
            _ = try PEFTConfigParser.parse(SyntheticPEFT.config(#"{"peft_type": "LORA", "r": 0}"#))
        }
        expectPEFTError(.invalidConfig) {
            _ = try PEFTConfigParser.parse(SyntheticPEFT.config(#"{"peft_type": "LORA", "target_modules": [1]}"#))
        }
        expectPEFTError(.invalidConfig) {
            _ = try PEFTConfigParser.parse(SyntheticPEFT.config(#"{"peft_type": "LORA", "rank_pattern": {"(": 2}}"#))
        }
        expectPEFTError(.invalidConfig) { _ = try PEFTConfigParser.parse(SyntheticPEFT.config(#"{"peft_type": "LORA""#)) }
        expectPEFTError(.invalidConfig) {
            _ = try PEFTConfigParser.parse(SyntheticPEFT.config(#"{"peft_type": "LORA", "r": 2, "r": 4}"#))
        }
    }

    @Test func acceptsKeysWithAnAdapterNameButNotBothForms() throws {
        let a = SyntheticPEFT.matrix(2, 8, seed: 1)
        let b = SyntheticPEFT.matrix(8, 2, seed: 2)
        let config = SyntheticPEFT.config(#"{"peft_type": "LORA", "r": 2, "lora_alpha": 2}"#)
        let named = try SyntheticPEFT.weights([
            ("base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight", a),
            ("base_model.model.model.layers.0.self_attn.q_proj.lora_B.default.weight", b),
        ])
        let adapter = try PEFTAdapterLoader.load(configJSON: config, safetensors: named)
        #expect(adapter.modules.map(\.name) == ["model.layers.0.self_attn.q_proj"])
        let noPrefix = try SyntheticPEFT.weights([
            ("model.layers.0.self_attn.q_proj.lora_A.weight", a), ("model.layers.0.self_attn.q_proj.lora_B.weight", b),
        ])
        #expect(try PEFTAdapterLoader.load(configJSON: config, safetensors: noPrefix).modules[0].b == b)
        let both = try SyntheticPEFT.weights([
            ("base_model.model.m.q_proj.lora_A.weight", a), ("base_model.model.m.q_proj.lora_A.default.weight", a),
            ("base_model.model.m.q_proj.lora_B.weight", b),
        ])
        expectPEFTError(.duplicateTensor) { _ = try PEFTAdapterLoader.load(configJSON: config, safetensors: both) }
    }

    @Test func refusesUnpairedFactors() throws {
        let config = SyntheticPEFT.config(#"{"peft_type": "LORA", "r": 2}"#)
        let full = SyntheticPEFT.pair("m.q_proj", r: 2, in: 4, out: 4, seed: 1)
        expectPEFTError(.unpairedTensor) {
            _ = try PEFTAdapterLoader.load(configJSON: config, safetensors: try SyntheticPEFT.weights([full[0]]))
        }
        expectPEFTError(.unpairedTensor) {
            _ = try PEFTAdapterLoader.load(configJSON: config, safetensors: try SyntheticPEFT.weights([full[1]]))
        }
    }

    @Test func refusesWrongShapes() throws {
        let config = SyntheticPEFT.config(#"{"peft_type": "LORA", "r": 2}"#)
        // B is [out, 3] while A is [2, in].
        let mismatched = try SyntheticPEFT.weights([
            ("base_model.model.m.q_proj.lora_A.weight", SyntheticPEFT.matrix(2, 4, seed: 1)),
            ("base_model.model.m.q_proj.lora_B.weight", SyntheticPEFT.matrix(4, 3, seed: 2)),
        ])
        expectPEFTError(.shapeMismatch) { _ = try PEFTAdapterLoader.load(configJSON: config, safetensors: mismatched) }
        // A stored transposed ([in, r]) does not pair with B.
        let transposed = try SyntheticPEFT.weights([
            ("base_model.model.m.q_proj.lora_A.weight", SyntheticPEFT.matrix(6, 2, seed: 1)),
            ("base_model.model.m.q_proj.lora_B.weight", SyntheticPEFT.matrix(4, 2, seed: 2)),
        ])
        expectPEFTError(.shapeMismatch) { _ = try PEFTAdapterLoader.load(configJSON: config, safetensors: transposed) }
        var w = SafeTensorsWriter()
        try w.add("base_model.model.m.q_proj.lora_A.weight", shape: [2, 2, 2], values: Array(repeating: 0.1, count: 8), dtype: .f32)
        try w.add("base_model.model.m.q_proj.lora_B.weight", matrix: SyntheticPEFT.matrix(4, 2, seed: 2), dtype: .f32)
        expectPEFTError(.shapeMismatch) { _ = try PEFTAdapterLoader.load(configJSON: config, safetensors: w.serialized()) }
    }

    @Test func refusesARankOtherThanTheConfigGives() throws {
        let weights = try SyntheticPEFT.weights(SyntheticPEFT.pair("m.q_proj", r: 4, in: 8, out: 8, seed: 1))
        expectPEFTError(.rankMismatch) {
            _ = try PEFTAdapterLoader.load(configJSON: SyntheticPEFT.config(#"{"peft_type": "LORA", "r": 2}"#), safetensors: weights)
        }
    }

    @Test func refusesNaNAndInfinityNamingTheTensor() throws {
        let config = SyntheticPEFT.config(#"{"peft_type": "LORA", "r": 2}"#)
        for bad in [Double.nan, .infinity] {
            var b = SyntheticPEFT.matrix(4, 2, seed: 2)
            b[3, 1] = bad
            // F32 cannot be written non-finite by our writer, so craft the bytes directly.
            let a = SyntheticPEFT.matrix(2, 4, seed: 1)
            let bytes = (a.elements + b.elements).flatMap { withUnsafeBytes(of: Float($0).bitPattern.littleEndian, Array.init) }
            let header = #"{"base_model.model.m.q_proj.lora_A.weight": {"dtype": "F32", "shape": [2, 4], "data_offsets": [0, 32]}, "#
                + #""base_model.model.m.q_proj.lora_B.weight": {"dtype": "F32", "shape": [4, 2], "data_offsets": [32, 64]}}"#
            // From the bytes in memory, and from a directory (scanned while it is read).
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("peft-nan-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            try config.write(to: directory.appendingPathComponent(PEFTAdapterLoader.configFileName))
            try craftedSafeTensors(header: header, data: bytes).write(to: directory.appendingPathComponent(PEFTAdapterLoader.weightsFileName))
            for load in [{ try PEFTAdapterLoader.load(configJSON: config, safetensors: craftedSafeTensors(header: header, data: bytes)) },
                         { try PEFTAdapterLoader.load(directory: directory) }] {
                do {
                    _ = try load()
                    Issue.record("accepted a non-finite value")
                } catch let error as PEFTError {
                    #expect(error.code == .nonFiniteValue)
                    #expect(error.message.contains("base_model.model.m.q_proj.lora_B.weight"))
                    #expect(error.message.contains("row 3, column 1"))
                }
            }
        }
    }

    @Test func refusesUnsupportedLoRAVariants() throws {
        let config = SyntheticPEFT.config(#"{"peft_type": "LORA", "r": 2}"#)
        let base = SyntheticPEFT.pair("m.q_proj", r: 2, in: 4, out: 4, seed: 1)
        let embedding = base + [("base_model.model.embed_tokens.lora_embedding_A", SyntheticPEFT.matrix(2, 10, seed: 3))]
        expectPEFTError(.unsupportedVariant) {
            _ = try PEFTAdapterLoader.load(configJSON: config, safetensors: try SyntheticPEFT.weights(embedding))
        }
        var w = SafeTensorsWriter()
        for (n, m) in base { try w.add(n, matrix: m, dtype: .f32) }
        try w.add("base_model.model.m.q_proj.lora_magnitude_vector", shape: [4], values: [1, 1, 1, 1], dtype: .f32)
        expectPEFTError(.unsupportedVariant) { _ = try PEFTAdapterLoader.load(configJSON: config, safetensors: w.serialized()) }
        var wb = SafeTensorsWriter()
        for (n, m) in base { try wb.add(n, matrix: m, dtype: .f32) }
        try wb.add("base_model.model.m.q_proj.lora_B.bias", shape: [4], values: [1, 1, 1, 1], dtype: .f32)
        expectPEFTError(.unsupportedVariant) { _ = try PEFTAdapterLoader.load(configJSON: config, safetensors: wb.serialized()) }
        let dora = SyntheticPEFT.config(#"{"peft_type": "LORA", "r": 2, "use_dora": true}"#)
        expectPEFTError(.unsupportedVariant) {
            _ = try PEFTAdapterLoader.load(configJSON: dora, safetensors: try SyntheticPEFT.weights(base))
        }
        // Shaped like plain factors (`….lora_A.weight`) but under an embedding or DoRA part: still refused.
        for part in ["lora_embedding_A", "lora_magnitude_vector"] {
            let disguised = SyntheticPEFT.pair("m.\(part).q_proj", r: 2, in: 4, out: 4, seed: 1)
            expectPEFTError(.unsupportedVariant) {
                _ = try PEFTAdapterLoader.load(configJSON: config, safetensors: try SyntheticPEFT.weights(disguised))
            }
        }
    }

    @Test func refusesModulesToSaveNamingWhatMergingWouldDropAndOtherStrayTensors() throws {
        let base = SyntheticPEFT.pair("bert.encoder.layer.0.attention.self.query", r: 2, in: 4, out: 4, seed: 1)
        var w = SafeTensorsWriter()
        for (n, m) in base { try w.add(n, matrix: m, dtype: .f32) }
        try w.add("base_model.model.classifier.weight", matrix: SyntheticPEFT.matrix(2, 4, seed: 5), dtype: .f32)
        try w.add("base_model.model.classifier.bias", shape: [2], values: [0, 0], dtype: .f32)
        func loadError(_ config: String, _ weights: Data) -> PEFTError? {
            do {
                _ = try PEFTAdapterLoader.load(configJSON: SyntheticPEFT.config(config), safetensors: weights)
                return nil
            } catch {
                return error as? PEFTError
            }
        }
        // A classifier head saved with modules_to_save: refused, naming the key and its tensors.
        let head = try #require(loadError(#"{"peft_type": "LORA", "r": 2, "modules_to_save": ["classifier", "score"]}"#,
                                          w.serialized()))
        #expect(head.code == .modulesToSave)
        #expect(head.message.contains(#"modules_to_save to ["classifier", "score"]"#), "\(head.message)")
        #expect(head.message.contains("'base_model.model.classifier.bias', 'base_model.model.classifier.weight'"))
        #expect(head.message.contains("would drop them"))
        // Declared without tensors, or tensors of an older PEFT's layout without the key: refused too.
        let declared = try #require(loadError(#"{"peft_type": "LORA", "r": 2, "modules_to_save": ["score"]}"#,
                                              try SyntheticPEFT.weights(base)))
        #expect(declared.code == .modulesToSave && declared.message.contains("holds none of their tensors"))
        var old = SafeTensorsWriter()
        for (n, m) in base { try old.add(n, matrix: m, dtype: .f32) }
        try old.add("base_model.model.classifier.modules_to_save.default.weight", matrix: SyntheticPEFT.matrix(2, 4, seed: 5), dtype: .f32)
        let legacy = try #require(loadError(#"{"peft_type": "LORA", "r": 2}"#, old.serialized()))
        #expect(legacy.code == .modulesToSave && legacy.message.contains("classifier.modules_to_save.default.weight"))
        // An empty or null modules_to_save is no head at all.
        for value in ["[]", "null"] {
            let adapter = try PEFTAdapterLoader.load(
                configJSON: SyntheticPEFT.config(#"{"peft_type": "LORA", "r": 2, "modules_to_save": \#(value)}"#),
                safetensors: try SyntheticPEFT.weights(base))
            #expect(adapter.modules.map(\.name) == ["bert.encoder.layer.0.attention.self.query"])
        }
        let without = SyntheticPEFT.config(#"{"peft_type": "LORA", "r": 2}"#)
        expectPEFTError(.unexpectedTensor) { _ = try PEFTAdapterLoader.load(configJSON: without, safetensors: w.serialized()) }
        expectPEFTError(.emptyAdapter) {
            _ = try PEFTAdapterLoader.load(configJSON: without, safetensors: try SyntheticPEFT.weights([]))
        }
    }

    @Test func refusesFactorsOfANonFloatDType() throws {
        let header = #"{"base_model.model.m.q_proj.lora_A.weight": {"dtype": "I64", "shape": [1, 1], "data_offsets": [0, 8]}, "#
            + #""base_model.model.m.q_proj.lora_B.weight": {"dtype": "I64", "shape": [1, 1], "data_offsets": [8, 16]}}"#
        let data = craftedSafeTensors(header: header, data: Array(repeating: 0, count: 16))
        let config = SyntheticPEFT.config(#"{"peft_type": "LORA", "r": 1}"#)
        let error = try #require(throws: SafeTensorsError.self) {
            _ = try PEFTAdapterLoader.load(configJSON: config, safetensors: data)
        }
        #expect(error.code == .unsupportedDType && error.message.contains("I64"))
    }

    @Test func splitsGPT2FusedAttentionWithoutTransposing() throws {
        // PEFT stores Conv1D factors as [r, in] and [out, r] like Linear ones (checked against PEFT 0.21).
        var tensors = SyntheticPEFT.pair("transformer.h.0.attn.c_attn", r: 2, in: 8, out: 24, seed: 1)
        tensors += SyntheticPEFT.pair("transformer.h.0.attn.c_proj", r: 2, in: 8, out: 8, seed: 2)
        tensors += SyntheticPEFT.pair("transformer.h.0.mlp.c_proj", r: 2, in: 32, out: 8, seed: 3)
        let config = SyntheticPEFT.config(#"{"peft_type": "LORA", "r": 2, "lora_alpha": 4, "fan_in_fan_out": true}"#)
        let adapter = try PEFTAdapterLoader.load(configJSON: config, safetensors: try SyntheticPEFT.weights(tensors))
        #expect(adapter.architecture == .gpt2)
        #expect(adapter.config.fanInFanOut)
        let fusedB = SyntheticPEFT.matrix(24, 2, seed: 1001)
        let fusedA = SyntheticPEFT.matrix(2, 8, seed: 1)
        for (i, p) in [Projection.q, .k, .v].enumerated() {
            let m = try #require(adapter.modules.first { $0.name == "transformer.h.0.attn.c_attn#\(p.rawValue)" })
            #expect(m.projection == p && m.layer == 0 && m.scale == 2)
            #expect(m.a == fusedA)
            #expect(m.b.elements == Array(fusedB.elements[(i * 16)..<((i + 1) * 16)]))
        }
        #expect(adapter.modules(for: .o).map(\.name) == ["transformer.h.0.attn.c_proj"])
        #expect(adapter.otherModules.map(\.name) == ["transformer.h.0.mlp.c_proj"])
        #expect(adapter.otherModules.first?.layer == 0)
    }

    @Test func splitsPhi3QKVAndRefusesAnIndivisibleOne() throws {
        let config = SyntheticPEFT.config(#"{"peft_type": "LORA", "r": 2}"#)
        let weights = try SyntheticPEFT.weights(
            SyntheticPEFT.pair("model.layers.2.self_attn.qkv_proj", r: 2, in: 16, out: 32, seed: 1)
                + SyntheticPEFT.pair("model.layers.2.self_attn.o_proj", r: 2, in: 16, out: 16, seed: 2))
        let adapter = try PEFTAdapterLoader.load(configJSON: config, safetensors: weights)
        #expect(adapter.architecture == .phi3)
        #expect(adapter.modules.map(\.outFeatures) == [16, 8, 8, 16])
        #expect(adapter.modules.map { $0.projection! } == [.q, .k, .v, .o])
        let odd = try SyntheticPEFT.weights(SyntheticPEFT.pair("model.layers.2.self_attn.qkv_proj", r: 2, in: 16, out: 33, seed: 1))
        expectPEFTError(.cannotSplitFusedModule) { _ = try PEFTAdapterLoader.load(configJSON: config, safetensors: odd) }
    }

    @Test func loadsDirectoriesAndRefusesPickles() throws {
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("peft-\(UUID().uuidString)")
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: dir) }
        expectPEFTError(.missingConfig) { _ = try PEFTAdapterLoader.load(directory: dir) }
        let (config, weights) = try SyntheticPEFT.llama()
        try config.write(to: dir.appendingPathComponent("adapter_config.json"))
        expectPEFTError(.missingWeights) { _ = try PEFTAdapterLoader.load(directory: dir) }
        try Data([0x80, 0x02]).write(to: dir.appendingPathComponent("adapter_model.bin"))
        do {
            _ = try PEFTAdapterLoader.load(directory: dir)
            Issue.record("loaded a pickle-only directory")
        } catch let error as PEFTError {
            #expect(error.code == .pickleNotSupported)
            #expect(error.message.contains("adapter_model.bin") && error.message.contains("pickle"))
        }
        try weights.write(to: dir.appendingPathComponent("adapter_model.safetensors"))
        let adapter = try PEFTAdapterLoader.load(directory: dir)
        #expect(adapter.modules.count == 8)
        #expect(adapter.modules == (try PEFTAdapterLoader.load(configJSON: config, safetensors: weights)).modules)
    }

    @Test func truncatedInputsGiveErrorsNotCrashes() throws {
        let (config, weights) = try SyntheticPEFT.llama(r: 2)
        for length in 0..<config.count {
            #expect(throws: PEFTError.self) { _ = try PEFTAdapterLoader.load(configJSON: config.prefix(length), safetensors: weights) }
        }
        for length in stride(from: 0, to: weights.count, by: 7) {
            #expect(throws: SafeTensorsError.self) {
                _ = try PEFTAdapterLoader.load(configJSON: config, safetensors: weights.prefix(length))
            }
        }
    }
}
