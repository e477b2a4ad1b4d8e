import Foundation
import Testing
@testable import AdapterCore

@Suite struct BertModelTests {
    /// Token-level output of a random 2-layer BERT against transformers' BertModel.
    @Test func hiddenStatesMatchTransformers() throws {
        let encoder = try BertModel(modelDirectory: MiniLMFixtures.tinyModel)
        let configuration = encoder.configuration
        #expect(configuration.hiddenSize == 16 && configuration.layerCount == 2 && configuration.headCount == 4)
        let reference = try MiniLMFixtures.load(MiniLMFixtures.EmbeddingReference.self, "tiny_bert/reference.json")
        let withHidden = reference.cases.filter { $0.hidden != nil }
        try #require(withHidden.count == 2)
        let sequences = try withHidden.map { try #require($0.ids) }
        let states = try encoder.hiddenStates(sequences)
        for (state, expected) in zip(states, withHidden) {
            let rows = try #require(expected.hidden)
            #expect(state.count == rows.count * 16)
            #expect(MiniLMFixtures.maxAbsDifference(state, rows.flatMap { $0 }) < 1e-4, "\(expected.text)")
        }
    }

    @Test func packedBatchEqualsSeparateRunsAndMeanPoolsTheHiddenStates() throws {
        let encoder = try BertModel(modelDirectory: MiniLMFixtures.tinyModel)
        let sequences: [[Int32]] = [[3, 10, 20, 4], [3, 4], [3, 100, 101, 102, 103, 104, 105, 4]]
        let batch = try encoder.hiddenStates(sequences)
        let pooled = try encoder.meanPooled(sequences)
        for (i, sequence) in sequences.enumerated() {
            let alone = try encoder.hiddenStates([sequence])[0]
            #expect(MiniLMFixtures.maxAbsDifference(batch[i], alone) < 1e-5)
            var mean = [Float](repeating: 0, count: 16)
            for t in 0..<sequence.count { for j in 0..<16 { mean[j] += alone[t * 16 + j] / Float(sequence.count) } }
            #expect(MiniLMFixtures.maxAbsDifference(pooled[i], mean) < 1e-5)
        }
        // Attention mixes tokens: a token's state depends on the rest of its sequence.
        let first = try encoder.hiddenStates([[3, 10, 4]])[0]
        let second = try encoder.hiddenStates([[3, 10, 11, 4]])[0]
        #expect(MiniLMFixtures.maxAbsDifference(Array(first[16..<32]), Array(second[16..<32])) > 1e-3)
    }

    @Test func badSequencesAreClearErrors() throws {
        let encoder = try BertModel(modelDirectory: MiniLMFixtures.tinyModel)
        #expect { try encoder.meanPooled([[3, 181, 4]]) } throws: { error in
            (error as? ModelRuntimeError)?.code == .invalidArgument && "\(error)".contains("181")
        }
        #expect(throws: ModelRuntimeError.self) { try encoder.meanPooled([[3, -1]]) }
        #expect(throws: ModelRuntimeError.self) { try encoder.meanPooled([[]]) }
        #expect(throws: ModelRuntimeError.self) { try encoder.meanPooled([[Int32](repeating: 5, count: 25)]) }
        #expect(try encoder.meanPooled([]).isEmpty)
    }

    @Test func weightsThatDoNotFitTheConfigurationAreRefused() throws {
        let wrong = try BertConfiguration(vocabularySize: 181, hiddenSize: 32, layerCount: 2, headCount: 4,
                                          intermediateSize: 32, maxPositions: 24)
        #expect {
            try BertModel(configuration: wrong, weightsFile: MiniLMFixtures.tinyModel.appendingPathComponent("model.safetensors"))
        } throws: { error in
            (error as? ModelRuntimeError)?.code == .invalidWeights && "\(error)".contains("word_embeddings")
        }
        let tooManyLayers = try BertConfiguration(vocabularySize: 181, hiddenSize: 16, layerCount: 3, headCount: 4,
                                                  intermediateSize: 32, maxPositions: 24)
        #expect {
            try BertModel(configuration: tooManyLayers, weightsFile: MiniLMFixtures.tinyModel.appendingPathComponent("model.safetensors"))
        } throws: { error in
            "\(error)".contains("encoder.layer.2.")
        }
        #expect(throws: ModelRuntimeError.self) {
            try BertConfiguration(vocabularySize: 10, hiddenSize: 10, layerCount: 1, headCount: 3, intermediateSize: 4, maxPositions: 8)
        }
    }

    @Test func configurationsOfOtherArchitecturesAreRefused() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bert-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let base = try String(contentsOf: MiniLMFixtures.tinyModel.appendingPathComponent("config.json"), encoding: .utf8)
        for (from, to, mention) in [("\"gelu\"", "\"relu\"", "hidden_act"), ("\"bert\"", "\"roberta\"", "model_type"),
                                    ("\"hidden_size\": 16", "\"hidden_size\": \"16\"", "hidden_size")] {
            try base.replacingOccurrences(of: from, with: to)
                .write(to: directory.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
            #expect { try BertConfiguration(modelDirectory: directory) } throws: { error in
                (error as? ModelRuntimeError)?.code == .invalidConfiguration && "\(error)".contains(mention)
            }
        }
        try Data("[1]".utf8).write(to: directory.appendingPathComponent("config.json"))
        #expect(throws: ModelRuntimeError.self) { try BertConfiguration(modelDirectory: directory) }
    }

    @Test func truncatedOrCorruptWeightFilesAreClearErrors() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bert-weights-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let original = try Data(contentsOf: MiniLMFixtures.tinyModel.appendingPathComponent("model.safetensors"))
        let configuration = try BertConfiguration(modelDirectory: MiniLMFixtures.tinyModel)
        let file = directory.appendingPathComponent("model.safetensors")
        for broken in [original.prefix(original.count - 100), original.prefix(4), Data([0xFF, 0xFF, 0, 0, 0, 0, 0, 0]) + original.dropFirst(8)] {
            try Data(broken).write(to: file)
            #expect { try BertModel(configuration: configuration, weightsFile: file) } throws: { error in
                (error as? ModelRuntimeError)?.code == .invalidWeights
            }
        }
    }
}
