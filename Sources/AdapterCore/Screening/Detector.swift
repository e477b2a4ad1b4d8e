import Foundation

/// Screens LoRA adapters with a trained `DetectorModel`: extracts the model's features, scores them,
/// and returns a `Verdict` (benign, poisoned, or out of distribution) with the features that pushed
/// the decision most. Immutable and safe to share between threads.
public struct Detector: Sendable {
    public let model: DetectorModel
    public let extractor: DetectorFeatureExtractor
    /// How many contributions a verdict lists.
    public var topFeatureCount: Int = 5

    /// A detector for `model`. Token-embedding tables are needed by models of feature set
    /// `extended-tokens`; without a table for an adapter's profile that adapter is out of distribution.
    public init(model: DetectorModel, tokenTables: [TokenEmbeddingTable] = []) throws {
        try model.validate()
        guard let fs = DetectorFeatureSet(rawValue: model.featureSet) else {
            throw DetectorError(.malformedModel, "unknown feature set '\(model.featureSet)'")
        }
        guard DetectorFeatureExtractor.names(for: fs) == model.featureNames else {
            throw DetectorError(.malformedModel,
                "the model's feature names do not match feature set '\(fs.rawValue)' of this adapterd version")
        }
        self.model = model
        self.extractor = DetectorFeatureExtractor(featureSet: fs, tokenTables: tokenTables)
    }

    /// The verdict for one adapter. Structural problems (unknown architecture, no attention modules,
    /// an update too large to screen (`UpdateMagnitude`), missing base-model embeddings, unseen profile,
    /// extreme or overflowing features) give `.outOfDistribution` with reasons; they are never scored as
    /// benign.
    public func verdict(for adapter: LoRAAdapter) -> Verdict {
        let fs = model.featureSet
        if adapter.architecture == .unknown {
            return Verdict(decision: .outOfDistribution, score: .nan, threshold: model.threshold, topFeatures: [],
                           reasons: ["unknown architecture: no attention projection names recognised"], featureSet: fs)
        }
        // Before any feature: an update too large to screen or serve (weights near the F32 limit, a huge
        // lora_alpha) would overflow spectral features and look ordinary to scale-free ones.
        let oversized = UpdateMagnitude.violations(in: adapter)
        if !oversized.isEmpty {
            return Verdict(decision: .outOfDistribution, score: .nan, threshold: model.threshold, topFeatures: [],
                           reasons: [UpdateMagnitude.reason(oversized)], featureSet: fs)
        }
        let features: DetectorFeatures
        do {
            features = try extractor.extract(adapter)
        } catch let e as DetectorError {
            return Verdict(decision: .outOfDistribution, score: .nan, threshold: model.threshold, topFeatures: [],
                           reasons: [e.message], featureSet: fs)
        } catch {
            return Verdict(decision: .outOfDistribution, score: .nan, threshold: model.threshold, topFeatures: [],
                           reasons: ["\(error)"], featureSet: fs)
        }
        return verdict(for: features)
    }

    /// The verdict for already extracted features (must be of the model's feature set).
    public func verdict(for features: DetectorFeatures) -> Verdict {
        let fs = model.featureSet
        let scored: DetectorScoring
        do {
            scored = try model.scoring(features)
        } catch {
            return Verdict(decision: .outOfDistribution, score: .nan, threshold: model.threshold, topFeatures: [],
                           reasons: ["\(error)"], featureSet: fs)
        }
        let top = Array(scored.contributions.prefix(topFeatureCount))
        if !scored.outOfDistributionReasons.isEmpty {
            return Verdict(decision: .outOfDistribution, score: scored.score, threshold: model.threshold,
                           topFeatures: top, reasons: scored.outOfDistributionReasons + features.notes, featureSet: fs)
        }
        // A NaN score would compare as "below the threshold", i.e. benign: never let it.
        guard scored.score.isFinite else {
            return Verdict(decision: .outOfDistribution, score: .nan, threshold: model.threshold, topFeatures: [],
                           reasons: ["the detector's score is not a finite number"] + features.notes, featureSet: fs)
        }
        let decision: Verdict.Decision = scored.score >= model.threshold ? .poisoned : .benign
        return Verdict(decision: decision, score: scored.score, threshold: model.threshold, topFeatures: top,
                       reasons: features.notes, featureSet: fs)
    }
}
