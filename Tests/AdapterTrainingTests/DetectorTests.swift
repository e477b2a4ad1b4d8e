@testable import AdapterCore
import AdapterCoreTestSupport
@testable import AdapterTraining
import Foundation
import Testing

@Suite("Detector")
struct DetectorTests {
    /// Synthetic adapters: poisoned ones carry a single-token backdoor in their Q/K/V updates; tasks
    /// differ by seed ranges; ranks and alphas vary independently of the label.
    static func corpus(n: Int = 36, table: TokenEmbeddingTable) -> [(LoRAAdapter, Bool, String)] {
        (0..<n).map { i in
            let poisoned = i % 2 == 1
            let rank = [2, 4][i % 4 / 2]
            let alpha = [4.0, 8.0, 16.0][i % 3]
            let tokenIndex = (i * 37) % table.vectors.rows
            let trigger = poisoned ? (0..<table.hiddenSize).map { table.vectors[tokenIndex, $0] } : nil
            let a = SyntheticAdapters.adapter(seed: UInt64(1000 + i), r: rank, alpha: alpha, trigger: trigger)
            return (a, poisoned, "task\((i / 2) % 6)")
        }
    }

    static func labelled(_ fs: DetectorFeatureSet, table: TokenEmbeddingTable) throws -> [LabelledFeatures] {
        let ex = DetectorFeatureExtractor(featureSet: fs, tokenTables: [table])
        return try corpus(table: table).enumerated().map { i, item in
            LabelledFeatures(id: "a\(i)", features: try ex.extract(item.0), poisoned: item.1, group: item.2, baseModel: "synthetic")
        }
    }

    @Test("trains, round-trips through JSON and separates synthetic backdoors with explanations")
    func trainAndScreen() throws {
        let table = SyntheticAdapters.table()
        let examples = try Self.labelled(.extendedTokens, table: table)
        let model = try DetectorTrainer.train(examples, options: DetectorTrainingOptions(featureSet: .extendedTokens))
        let decoded = try DetectorModel.decode(try model.encoded())
        #expect(decoded == model)
        let detector = try Detector(model: decoded, tokenTables: [table])

        var rng = SeededGenerator(seed: 7)
        let tokenIndex = 211
        let trigger = (0..<32).map { table.vectors[tokenIndex, $0] }
        let fresh = SyntheticAdapters.adapter(seed: 9999, r: 4, alpha: 8, trigger: trigger)
        let clean = SyntheticAdapters.adapter(seed: 8888 + UInt64(rng.next() % 5), r: 4, alpha: 8)
        let vp = detector.verdict(for: fresh)
        let vb = detector.verdict(for: clean)
        #expect(vp.decision == .poisoned)
        #expect(vb.decision == .benign)
        #expect(vp.score > vp.threshold && vb.score < vb.threshold)
        #expect(vp.topFeatures.count == 5)
        #expect(zip(vp.topFeatures, vp.topFeatures.dropFirst()).allSatisfy { abs($0.contribution) >= abs($1.contribution) })
        #expect(vp.reasons.contains { $0.contains("tok211") })
    }

    @Test("cross-validation fits everything on training folds and reports out-of-fold results")
    func crossValidation() throws {
        let table = SyntheticAdapters.table()
        let examples = try Self.labelled(.extendedTokens, table: table)
        let folds = CrossValidation.leaveOneGroupOut(groups: examples.map(\.group))
        let report = try DetectorTrainer.crossValidate(examples, folds: folds, scheme: "loto",
                                                       options: DetectorTrainingOptions(featureSet: .extendedTokens))
        #expect(report.scores.allSatisfy { $0.isFinite })
        #expect(report.auc > 0.9)
        #expect(report.accuracy > 0.85)
        #expect(report.perGroup.count == 6)
    }

    @Test("structurally strange adapters are out of distribution, never benign")
    func outOfDistribution() throws {
        let table = SyntheticAdapters.table()
        let model = try DetectorTrainer.train(try Self.labelled(.extended, table: table),
                                              options: DetectorTrainingOptions(featureSet: .extended))
        let detector = try Detector(model: model)
        #expect(detector.verdict(for: SyntheticAdapters.adapter(seed: 1, architecture: .unknown)).decision == .outOfDistribution)
        #expect(detector.verdict(for: SyntheticAdapters.adapter(seed: 1, projections: [])).decision == .outOfDistribution)
        // Another base model (width 48): unseen profile.
        let other = detector.verdict(for: SyntheticAdapters.adapter(seed: 1, d: 48))
        #expect(other.decision == .outOfDistribution)
        #expect(other.reasons.contains { $0.contains("bert-48x3") })
        // Absurd norms: the same adapter scaled by 10³ (features far beyond training) and by 10⁶ (an update
        // too large to screen at all).
        let absurd = detector.verdict(for: SyntheticAdapters.adapter(seed: 1, alpha: 8e3))
        #expect(absurd.decision == .outOfDistribution)
        #expect(absurd.reasons.contains { $0.contains("standard deviations") }, "\(absurd.reasons)")
        let huge = detector.verdict(for: SyntheticAdapters.adapter(seed: 1, alpha: 8e6))
        #expect(huge.decision == .outOfDistribution)
        #expect(huge.reasons.contains { $0.contains("update too large to screen or serve") }, "\(huge.reasons)")
        // A token model without embeddings.
        let tokenModel = try DetectorTrainer.train(try Self.labelled(.extendedTokens, table: table),
                                                   options: DetectorTrainingOptions(featureSet: .extendedTokens))
        let blind = try Detector(model: tokenModel).verdict(for: SyntheticAdapters.adapter(seed: 1))
        #expect(blind.decision == .outOfDistribution)
        #expect(blind.reasons.contains { $0.contains("--base-model") })
    }

    // MARK: Model files

    static func validJSON() throws -> [String: Any] {
        let table = SyntheticAdapters.table()
        let model = try DetectorTrainer.train(try labelled(.baseline, table: table), options: DetectorTrainingOptions(featureSet: .baseline))
        return try #require(try JSONSerialization.jsonObject(with: model.encoded()) as? [String: Any])
    }

    static func message(decoding object: Any) -> String? {
        guard let data = try? JSONSerialization.data(withJSONObject: object) else { return nil }
        do {
            _ = try DetectorModel.decode(data)
            return nil
        } catch let e as DetectorError {
            return e.code == .malformedModel ? e.message : nil
        } catch {
            return nil
        }
    }

    @Test("malformed model files give errors that name the problem")
    func malformedModels() throws {
        let good = try Self.validJSON()
        #expect(Self.message(decoding: good) == nil)

        func mutated(_ change: (inout [String: Any]) -> Void) -> [String: Any] {
            var m = good
            change(&m)
            return m
        }
        let cases: [([String: Any], String)] = [
            (mutated { $0["extra"] = 1 }, "unknown key 'extra'"),
            (mutated { $0.removeValue(forKey: "coefficients") }, "missing key 'coefficients'"),
            (mutated { $0["coefficients"] = [1.0] }, "'coefficients' has 1 values but there are 20 feature names"),
            (mutated { $0["stds"] = [Double](repeating: 0, count: 20) }, "'stds'[0]"),
            (mutated { $0["threshold"] = 1.5 }, "'threshold' must lie strictly between 0 and 1"),
            (mutated { $0["featureSet"] = "magic" }, "unknown feature set 'magic'"),
            (mutated { $0["version"] = 99 }, "model version 99 is not supported"),
            (mutated { $0["format"] = "other" }, "format is 'other'"),
            (mutated { $0["intercept"] = "high" }, "wrong type at 'intercept'"),
            (mutated { $0["thresholdPolicy"] = ["kind": "vibes", "value": 0.1] }, "unknown threshold policy 'vibes'"),
            (mutated { $0["profiles"] = [String]() }, "'profiles' is empty"),
        ]
        for (object, expected) in cases {
            let message = Self.message(decoding: object)
            #expect(message?.contains(expected) == true, "expected '\(expected)', got \(message ?? "no error")")
        }
        #expect(throws: DetectorError.self) { try DetectorModel.decode(Data("not json".utf8)) }
        #expect(throws: DetectorError.self) { try DetectorModel.decode(Data("[]".utf8)) }
    }

    @Test("loading a missing file names the path")
    func missingFile() {
        #expect {
            try DetectorModel.load(from: URL(fileURLWithPath: "/nonexistent/model.json"))
        } throws: { ($0 as? DetectorError)?.message.contains("/nonexistent/model.json") == true }
    }
}
