@testable import AdapterCore
import Foundation
import Testing

/// A committed llama-tiny corpus adapter (profile llama-128x2, which both built-in models know) pushed to
/// the numeric limits — every weight at ±magnitude, or a huge `lora_alpha` — as the bytes a client
/// would send.
enum ExtremeAdapters {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let corpusAdapter = packageRoot
        .appendingPathComponent("data/corpus/adapters/llama-001-sentiment_movie_reviews")
    static let llamaTinyDirectory = packageRoot.appendingPathComponent("data/corpus/base/llama-tiny")

    /// How the corpus adapter is made extreme.
    struct Change: Sendable, CustomStringConvertible {
        /// Every weight becomes ±magnitude (its sign kept), stored in `dtype`.
        var magnitude: Double?
        var dtype: DType = .f32
        /// Replaces lora_alpha.
        var alpha: Double?

        var description: String {
            [magnitude.map { "weights ±\($0) \(dtype.rawValue)" }, alpha.map { "lora_alpha \($0)" }]
                .compactMap { $0 }.joined(separator: ", ")
        }
    }

    static func files(_ change: Change) throws -> (config: Data, weights: Data) {
        var config = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: corpusAdapter.appendingPathComponent("adapter_config.json")))
                as? [String: Any])
        if let alpha = change.alpha { config["lora_alpha"] = alpha }
        let source = try SafeTensorsFile(contentsOf: corpusAdapter.appendingPathComponent("adapter_model.safetensors"))
        var writer = SafeTensorsWriter(metadata: ["format": "pt"])
        for tensor in source.tensors {
            var values = try source.floats(tensor.name).map(Double.init)
            if let magnitude = change.magnitude { values = values.map { $0 < 0 ? -magnitude : magnitude } }
            try writer.add(tensor.name, shape: tensor.shape, values: values, dtype: change.magnitude == nil ? .f16 : change.dtype)
        }
        return (try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]), writer.serialized())
    }

    static func adapter(_ change: Change) throws -> LoRAAdapter {
        let f = try files(change)
        return try PEFTAdapterLoader.load(configJSON: f.config, safetensors: f.weights)
    }

    /// Writes the changed adapter as a PEFT directory.
    static func write(_ change: Change, to directory: URL) throws {
        let f = try files(change)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try f.config.write(to: directory.appendingPathComponent(PEFTAdapterLoader.configFileName))
        try f.weights.write(to: directory.appendingPathComponent(PEFTAdapterLoader.weightsFileName))
    }

    static let changes: [Change] = [
        Change(magnitude: 3e38, dtype: .f32),
        Change(magnitude: 3e38, dtype: .bf16),
        Change(magnitude: 65504, dtype: .f16),
        Change(alpha: 1e30),
        Change(alpha: 1e38),
        Change(alpha: 1e300),
        Change(magnitude: 3e38, dtype: .f32, alpha: 1e38),
    ]

    /// The two built-in detectors: weights-only, and token alignment with llama-tiny's embeddings.
    static func detectors() throws -> [Detector] {
        [try Detector(model: try DefaultDetectorModels.weightsOnly()),
         try Detector(model: try #require(try DefaultDetectorModels.withTokens()),
                      tokenTables: [try TokenEmbeddingTable.load(directory: llamaTinyDirectory)])]
    }
}

@Suite("ExtremeWeightsScreening")
struct ExtremeWeightsScreeningTests {
    @Test("weights near the dtype limits or a huge lora_alpha: out of distribution with the reason, never a trap",
          arguments: ExtremeAdapters.changes)
    func extremeAdapterIsOutOfDistribution(_ change: ExtremeAdapters.Change) throws {
        let adapter = try ExtremeAdapters.adapter(change)
        for detector in try ExtremeAdapters.detectors() {
            let verdict = detector.verdict(for: adapter)
            #expect(verdict.decision == .outOfDistribution, "\(detector.model.featureSet): \(verdict)")
            #expect(verdict.score.isNaN && verdict.topFeatures.isEmpty)
            let reason = try #require(verdict.reasons.first)
            #expect(reason.contains("update too large to screen or serve"), "\(reason)")
            #expect(reason.contains("model.layers.0.self_attn.q_proj") && reason.contains("65504"), "\(reason)")
        }
    }

    @Test("the unchanged corpus adapter is scored by both built-in detectors")
    func unchangedAdapterIsScored() throws {
        let adapter = try PEFTAdapterLoader.load(directory: ExtremeAdapters.corpusAdapter)
        #expect(UpdateMagnitude.violations(in: adapter).isEmpty)
        for detector in try ExtremeAdapters.detectors() {
            let verdict = detector.verdict(for: adapter)
            #expect(verdict.decision != .outOfDistribution && verdict.score.isFinite, "\(verdict)")
        }
    }

    @Test("a scan of extreme adapters and a normal one reports every adapter and scores the normal one")
    func scannerGoesOnPastExtremeAdapters() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("extreme-scan-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        for (i, change) in ExtremeAdapters.changes.enumerated() {
            try ExtremeAdapters.write(change, to: root.appendingPathComponent("extreme-\(i)"))
        }
        let directories = try AdapterScanner.discover([root.path]) + [ExtremeAdapters.corpusAdapter]
        let results = AdapterScanner(detector: try Detector(model: try DefaultDetectorModels.weightsOnly()))
            .scan(directories, jobs: 2)
        #expect(results.count == ExtremeAdapters.changes.count + 1)
        for r in results where r.path.hasPrefix(root.path) {
            #expect(r.verdict?.decision == .outOfDistribution, "\(r.path): \(r.verdict.map { "\($0)" } ?? r.error ?? "")")
        }
        let normal = try #require(results.first { $0.path == ExtremeAdapters.corpusAdapter.path })
        #expect(normal.verdict.map { $0.score.isFinite && $0.decision != .outOfDistribution } == true)
    }

    @Test("the bound is computed without overflow and matches the direct norm")
    func magnitudeWithoutOverflow() throws {
        let normal = try PEFTAdapterLoader.load(directory: ExtremeAdapters.corpusAdapter)
        for m in normal.modules {
            let direct = LowRank.frobeniusNorm(of: m.update)
            #expect(abs(exp(UpdateMagnitude.logFrobeniusNorm(of: m)) - direct) <= 1e-9 * direct)
        }
        // ±3e38 everywhere with lora_alpha 1e38: the norm (≈1e117) and its square are beyond what the
        // Gram path computes (it overflows); the scaled path still gives its logarithm.
        let extreme = try ExtremeAdapters.adapter(.init(magnitude: 3e38, dtype: .f32, alpha: 1e38))
        let q = try #require(extreme.modules.first)
        let logNorm = UpdateMagnitude.logFrobeniusNorm(of: q)
        #expect(logNorm.isFinite && logNorm / log(10) > 116 && logNorm / log(10) < 118)
        let zero = LoRAModule(name: "m.q_proj", layer: 0, projection: .q, a: Matrix(zeros: 2, 4), b: Matrix(zeros: 4, 2), scale: 1)
        #expect(UpdateMagnitude.logFrobeniusNorm(of: zero) == -.infinity)
    }

    // MARK: Scoring of features that overflow

    static func corpusFeatures() throws -> (DetectorModel, DetectorFeatures) {
        let model = try DefaultDetectorModels.weightsOnly()
        let extractor = DetectorFeatureExtractor(featureSet: .extended)
        return (model, try extractor.extract(try PEFTAdapterLoader.load(directory: ExtremeAdapters.corpusAdapter)))
    }

    @Test("a finite feature far beyond training is out of distribution with a readable z, not a trap")
    func hugeFiniteFeature() throws {
        var (model, features) = try Self.corpusFeatures()
        features.values[0] = 1e300
        let verdict = try Detector(model: model).verdict(for: features)
        #expect(verdict.decision == .outOfDistribution)
        #expect(verdict.reasons.contains { $0.contains("standard deviations") && $0.contains("e+") }, "\(verdict.reasons)")
    }

    @Test("a feature that overflows when standardised is out of distribution, not a trap")
    func featureOverflowingInStandardisation() throws {
        var (model, features) = try Self.corpusFeatures()
        let group = try #require(model.bank?.group(profile: features.profile.key, rank: features.rank))
        // The bank group's std is below 1, so the largest finite value of the sign away from the mean
        // overflows to ±∞ once centred and divided by it.
        let j = try #require(group.stds.indices.first { group.stds[$0] < 1 })
        features.values[j] = group.means[j] > 0 ? -.greatestFiniteMagnitude : .greatestFiniteMagnitude
        let scored = try model.scoring(features)
        #expect(scored.score.isNaN)
        #expect(scored.outOfDistributionReasons.contains { $0.contains("overflows") && $0.contains(model.featureNames[j]) },
                "\(scored.outOfDistributionReasons)")
        #expect(try Detector(model: model).verdict(for: features).decision == .outOfDistribution)
    }

    @Test("a score that is not a number is never benign")
    func notANumberScoreIsNotBenign() throws {
        // A model whose bound on z is too loose to catch it: two opposite, huge contributions make the
        // logit ∞ − ∞ = NaN, which compares as "below the threshold".
        let names = AdapterSignature.featureNames
        var coefficients = [Double](repeating: 0, count: names.count)
        coefficients[0] = 1e300
        coefficients[1] = -1e300
        let model = DetectorModel(
            featureSet: DetectorFeatureSet.baseline.rawValue, featureNames: names, bank: nil,
            means: [Double](repeating: 0, count: names.count), stds: [Double](repeating: 1, count: names.count),
            coefficients: coefficients, intercept: 0, l2: 1, threshold: 0.5, thresholdPolicy: .fixed(0.5),
            maxAbsZ: 1e300, profiles: ["llama-128x2"],
            provenance: DetectorProvenance(corpus: "test", baseModels: [], trainedAt: "2026-01-01T00:00:00Z",
                                           trainingCount: 2, poisonedCount: 1, metrics: [], tool: "test"))
        var values = [Double](repeating: 0, count: names.count)
        values[0] = 1e10
        values[1] = 1e10
        let features = DetectorFeatures(names: names, values: values,
                                        profile: AdapterProfile(architecture: .llama, hiddenSize: 128, layerCount: 2), rank: 16)
        let verdict = try Detector(model: model).verdict(for: features)
        #expect(verdict.decision == .outOfDistribution, "\(verdict)")
        #expect(verdict.reasons.contains { $0.contains("logit") }, "\(verdict.reasons)")
    }

    @Test("short numbers in reasons handle any magnitude")
    func shortFormatting() {
        #expect(DetectorModel.short(12) == "12")
        #expect(DetectorModel.short(4.46) == "4.5")
        #expect(DetectorModel.short(8.97e79) == "8.97e+79")
        #expect(DetectorModel.short(-.infinity) == "-inf")
        #expect(DetectorModel.short(.nan) == "nan")
    }
}
