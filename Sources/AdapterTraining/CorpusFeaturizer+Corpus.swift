import AdapterCore
import Foundation

/// Loads the adapters of a `CorpusManifest` and computes their detector features for one or more
/// feature sets, each adapter read once, in parallel.
extension CorpusFeaturizer {
    /// Features of every manifest entry for each feature set, in manifest order. Throws on the first
    /// adapter that cannot be read or featurised, naming it.
    public static func features(
        of manifest: CorpusManifest, featureSets: [DetectorFeatureSet], tokenTables: [TokenEmbeddingTable],
        jobs: Int, progress: (@Sendable (Int, Int) -> Void)? = nil
    ) throws -> [DetectorFeatureSet: [LabelledFeatures]] {
        let extractors = featureSets.map { DetectorFeatureExtractor(featureSet: $0, tokenTables: tokenTables) }
        let results: [Result<[DetectorFeatures], DetectorError>] = ConcurrentWork.map(
            manifest.entries, jobs: jobs, progress: progress
        ) { entry in
            do {
                let adapter = try loadAdapter(entry.directory)
                return .success(try extractors.map { try $0.extract(adapter) })
            } catch let e as DetectorError {
                return .failure(DetectorError(e.code, "adapter \(entry.id): \(e.message)"))
            } catch {
                return .failure(DetectorError(.invalidTrainingData, "adapter \(entry.id) (\(entry.directory.path)): \(error)"))
            }
        }
        var out: [DetectorFeatureSet: [LabelledFeatures]] = [:]
        for (i, r) in results.enumerated() {
            let entry = manifest.entries[i]
            let features = try r.get()
            for (k, fs) in featureSets.enumerated() {
                out[fs, default: []].append(LabelledFeatures(id: entry.id, features: features[k], poisoned: entry.poisoned,
                                                             group: entry.task, baseModel: entry.baseModel,
                                                             triggerKind: entry.triggerKind))
            }
        }
        return out
    }
}
