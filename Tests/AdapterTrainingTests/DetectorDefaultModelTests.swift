@testable import AdapterCore
import AdapterCoreTestSupport
@testable import AdapterTraining
import Foundation
import Testing

@Suite("DetectorDefaultModel")
struct DetectorDefaultModelTests {
    @Test("the built-in models decode, validate and say what they were trained on")
    func builtInModelsLoad() throws {
        let weights = try DefaultDetectorModels.weightsOnly()
        #expect(weights.featureSet == DetectorFeatureSet.extended.rawValue)
        #expect(weights.profiles.contains("bert-384x6"))
        #expect(weights.provenance.trainingCount > 0 && weights.provenance.poisonedCount > 0)
        #expect(weights.provenance.metrics.contains { $0.scheme == "leave-one-task-out" })
        let tokens = try #require(try DefaultDetectorModels.withTokens())
        #expect(tokens.featureSet == DetectorFeatureSet.alignment.rawValue)
        #expect(try DefaultDetectorModels.model(forBaseModel: true) == tokens)
        #expect(try DefaultDetectorModels.model(forBaseModel: false) == weights)
        _ = try Detector(model: weights)
    }

    @Test("the built-in models were trained on the committed corpus and match this version's feature extractor")
    func provenanceMatchesCorpusAndExtractor() throws {
        let manifest = try CorpusManifest.load(DetectorCorpusTests.manifestURL)
        let poisoned = manifest.entries.filter(\.poisoned).count
        let weights = try DefaultDetectorModels.weightsOnly()
        let tokens = try #require(try DefaultDetectorModels.withTokens())
        for model in [weights, tokens] {
            let fs = try #require(DetectorFeatureSet(rawValue: model.featureSet))
            #expect(model.featureNames == DetectorFeatureExtractor.names(for: fs))
            #expect(model.provenance.corpus == "corpus/manifest.json")
            #expect(model.provenance.trainingCount == manifest.entries.count)
            #expect(model.provenance.poisonedCount == poisoned)
            #expect(Set(model.profiles) == ["bert-384x6", "llama-128x2"])
            #expect(model.provenance.baseModels.contains("minilm") && model.provenance.baseModels.contains("llama-tiny"))
            #expect(model.thresholdPolicy == .fixedFalsePositiveRate(0.05))
            #expect(model.threshold > 0 && model.threshold < 1)
            let schemes = Set(model.provenance.metrics.map(\.scheme))
            #expect(schemes == ["stratified 5-fold", "leave-one-task-out"])
            #expect(ISO8601DateFormatter().date(from: model.provenance.trainedAt) != nil)
        }
        #expect(tokens.provenance.baseModels.contains { $0.hasPrefix("embeddings:") })
        // The token model's recorded leave-one-task-out AUC is the one docs/DETECTOR.md reports.
        let loto = try #require(tokens.provenance.metrics.first { $0.scheme == "leave-one-task-out" })
        #expect(loto.auc > 0.7)
    }

    @Test("the built-in model does not score adapters of a base model it has not seen")
    func unseenBaseModelIsOutOfDistribution() throws {
        let detector = try Detector(model: try DefaultDetectorModels.weightsOnly())
        let v = detector.verdict(for: SyntheticAdapters.adapter(seed: 3))
        #expect(v.decision == .outOfDistribution)
        #expect(v.reasons.contains { $0.contains("bert-32x3") })
    }
}
