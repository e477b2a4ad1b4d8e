@testable import AdapterCore
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
        #expect(tokens.featureSet == DetectorFeatureSet.extendedTokens.rawValue)
        #expect(try DefaultDetectorModels.model(forBaseModel: true) == tokens)
        #expect(try DefaultDetectorModels.model(forBaseModel: false) == weights)
        _ = try Detector(model: weights)
    }

    @Test("the built-in model does not score adapters of a base model it has not seen")
    func unseenBaseModelIsOutOfDistribution() throws {
        let detector = try Detector(model: try DefaultDetectorModels.weightsOnly())
        let v = detector.verdict(for: SyntheticAdapters.adapter(seed: 3))
        #expect(v.decision == .outOfDistribution)
        #expect(v.reasons.contains { $0.contains("bert-32x3") })
    }
}
