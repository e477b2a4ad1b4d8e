import Foundation
import Testing
@testable import AdapterCore

/// The references tools/runtime/make_goldens.py made with transformers, tokenizers and peft
/// (Fixtures/runtime/<case>/), and the corpus's llama-tiny.
enum RuntimeFixtures {
    struct TokenCase: Decodable { let text: String; let ids: [Int32]; let ids_plain: [Int32]? }
    struct Reference: Decodable {
        let texts: [String]
        let ids: [[Int32]]
        let tokenizer_cases: [TokenCase]
        let adapter: String?
        let max_tokens: Int?
    }

    static let directory: URL = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/runtime")
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let llamaTiny = packageRoot.appendingPathComponent("data/corpus/base/llama-tiny")
    static let llamaTinyPresent = FileManager.default.fileExists(
        atPath: llamaTiny.appendingPathComponent("model.safetensors").path)
    static let decoderCases = ["llama", "qwen2", "mistral", "gemma"]

    static func model(_ name: String) -> URL { directory.appendingPathComponent(name) }

    static func reference(_ name: String) throws -> (Reference, SafeTensorsFile) {
        let dir = model(name)
        let json = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: dir.appendingPathComponent("reference.json")))
        return (json, try SafeTensorsFile(contentsOf: dir.appendingPathComponent("reference.safetensors")))
    }

    /// The fixture's PEFT adapter in factored form, loaded by the project's PEFT loader.
    static func adapter(_ name: String) throws -> FactoredLoRA {
        try FactoredLoRA(PEFTAdapterLoader.load(directory: model(name).appendingPathComponent("adapter")))
    }

    /// The metric of every golden comparison: max|a − b| / max|b| over one tensor.
    static func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "tensor sizes \(a.count) and \(b.count) differ")
        var difference: Float = 0
        var scale: Float = 0
        for (x, y) in zip(a, b) {
            difference = max(difference, abs(x - y))
            scale = max(scale, abs(y))
        }
        return difference / max(scale, .leastNormalMagnitude)
    }

    static let tolerance: Float = 1e-4
}

@Suite struct RuntimeGoldenTests {
    /// Token ids, final hidden states and logits of each tiny decoder against transformers, without
    /// and with its PEFT adapter (factored).
    @Test(arguments: RuntimeFixtures.decoderCases)
    func decoderMatchesTransformers(_ name: String) throws {
        let directory = RuntimeFixtures.model(name)
        let (reference, tensors) = try RuntimeFixtures.reference(name)
        let model = try DecoderModel(modelDirectory: directory)
        #expect(model.configuration.family.rawValue == name)
        let tokenizer = try TokenizerLoader.load(modelDirectory: directory)
        let ids = reference.texts.map { tokenizer.encode($0) }
        #expect(ids == reference.ids)

        let adapter = try RuntimeFixtures.adapter(name)
        var worst: Float = 0
        for (variant, lora) in [("base", nil), ("adapter", adapter)] as [(String, FactoredLoRA?)] {
            let outputs = try model.forward(reference.ids, adapter: lora)
            for (i, output) in outputs.enumerated() {
                let hidden = try tensors.floats("\(variant).hidden.\(i)")
                let logits = try tensors.floats("\(variant).logits.\(i)")
                let hiddenError = RuntimeFixtures.relativeError(output.hiddenStates, hidden)
                let logitError = RuntimeFixtures.relativeError(output.logits, logits)
                #expect(hiddenError <= RuntimeFixtures.tolerance, "\(name) \(variant) text \(i): hidden states \(hiddenError)")
                #expect(logitError <= RuntimeFixtures.tolerance, "\(name) \(variant) text \(i): logits \(logitError)")
                worst = max(worst, hiddenError, logitError)
            }
        }
        print("runtime golden \(name): worst max|a−b|/max|b| \(worst)")
        // The adapter matters: the references with and without it are far apart.
        let apart = RuntimeFixtures.relativeError(try tensors.floats("adapter.logits.0"), try tensors.floats("base.logits.0"))
        #expect(apart > 1e-2)
    }

    @Test func bertMatchesTransformers() throws {
        let directory = RuntimeFixtures.model("bert")
        let (reference, tensors) = try RuntimeFixtures.reference("bert")
        let model = try BertModel(modelDirectory: directory)
        let tokenizer = try TokenizerLoader.load(modelDirectory: directory)
        #expect(tokenizer is WordPieceTokenizer)
        #expect(reference.texts.map { tokenizer.encode($0) } == reference.ids)
        let adapter = try RuntimeFixtures.adapter("bert")
        #expect(Set(adapter.modules.keys.map { $0.components(separatedBy: ".").suffix(2).joined(separator: ".") })
                == ["self.query", "self.key", "self.value", "output.dense", "intermediate.dense"])
        var worst: Float = 0
        for (variant, lora) in [("base", nil), ("adapter", adapter)] as [(String, FactoredLoRA?)] {
            let hidden = try model.hiddenStates(reference.ids, adapter: lora)
            let pooled = try model.meanPooled(reference.ids, adapter: lora)
            for i in reference.ids.indices {
                let hiddenError = RuntimeFixtures.relativeError(hidden[i], try tensors.floats("\(variant).hidden.\(i)"))
                let pooledError = RuntimeFixtures.relativeError(pooled[i], try tensors.floats("\(variant).pooled.\(i)"))
                #expect(hiddenError <= RuntimeFixtures.tolerance, "bert \(variant) text \(i): hidden \(hiddenError)")
                #expect(pooledError <= RuntimeFixtures.tolerance, "bert \(variant) text \(i): pooled \(pooledError)")
                worst = max(worst, hiddenError, pooledError)
            }
        }
        print("runtime golden bert: worst max|a−b|/max|b| \(worst)")
        let apart = RuntimeFixtures.relativeError(try tensors.floats("adapter.hidden.0"), try tensors.floats("base.hidden.0"))
        #expect(apart > 1e-2)
    }

    /// The corpus's llama-tiny (F16, GQA, tied embeddings, transformers 5 `rope_parameters`) with its
    /// word-level tokenizer and the corpus adapter llama-000 (rsLoRA on q and v).
    @Test(.enabled(if: RuntimeFixtures.llamaTinyPresent, "data/corpus/base/llama-tiny is not in this checkout"))
    func corpusLlamaTinyMatchesTransformers() throws {
        let (reference, tensors) = try RuntimeFixtures.reference("llama-tiny")
        let model = try DecoderModel(modelDirectory: RuntimeFixtures.llamaTiny)
        let tokenizer = try #require(try TokenizerLoader.load(modelDirectory: RuntimeFixtures.llamaTiny) as? WordLevelTokenizer)
        #expect(try reference.texts.map { try tokenizer.promptIDs($0) } == reference.ids)
        let adapterName = try #require(reference.adapter)
        let adapter = try FactoredLoRA(PEFTAdapterLoader.load(directory: RuntimeFixtures.packageRoot
            .appendingPathComponent("data/corpus/adapters").appendingPathComponent(adapterName)))
        var worst: Float = 0
        for (variant, lora) in [("base", nil), ("adapter", adapter)] as [(String, FactoredLoRA?)] {
            for (i, output) in try model.forward(reference.ids, adapter: lora).enumerated() {
                let hiddenError = RuntimeFixtures.relativeError(output.hiddenStates, try tensors.floats("\(variant).hidden.\(i)"))
                let logitError = RuntimeFixtures.relativeError(output.logits, try tensors.floats("\(variant).logits.\(i)"))
                #expect(hiddenError <= RuntimeFixtures.tolerance, "llama-tiny \(variant) text \(i): hidden \(hiddenError)")
                #expect(logitError <= RuntimeFixtures.tolerance, "llama-tiny \(variant) text \(i): logits \(logitError)")
                worst = max(worst, hiddenError, logitError)
            }
        }
        print("runtime golden llama-tiny: worst max|a−b|/max|b| \(worst)")
    }
}
