import Foundation

/// Cross-validated quality of a detector, as recorded in its model file.
public struct DetectorMetrics: Sendable, Equatable, Codable {
    public var scheme: String
    public var accuracy: Double
    public var auc: Double
    public var falsePositiveRate: Double
    public var truePositiveRate: Double
    public var confusion: ConfusionMatrix

    public init(scheme: String, accuracy: Double, auc: Double, falsePositiveRate: Double,
                truePositiveRate: Double, confusion: ConfusionMatrix) {
        self.scheme = scheme
        self.accuracy = accuracy
        self.auc = auc
        self.falsePositiveRate = falsePositiveRate
        self.truePositiveRate = truePositiveRate
        self.confusion = confusion
    }
}

/// Where a detector model came from.
public struct DetectorProvenance: Sendable, Equatable, Codable {
    /// The corpus it was trained on (manifest path or name).
    public var corpus: String
    /// Base models of the training adapters (names from their configs or the manifest).
    public var baseModels: [String]
    /// ISO 8601 time of training.
    public var trainedAt: String
    public var trainingCount: Int
    public var poisonedCount: Int
    /// Cross-validated metrics measured when the model was trained (may be empty).
    public var metrics: [DetectorMetrics]
    /// The program that trained it, e.g. "adapterctl 0.1.0".
    public var tool: String

    public init(corpus: String, baseModels: [String], trainedAt: String, trainingCount: Int, poisonedCount: Int,
                metrics: [DetectorMetrics], tool: String) {
        self.corpus = corpus
        self.baseModels = baseModels
        self.trainedAt = trainedAt
        self.trainingCount = trainingCount
        self.poisonedCount = poisonedCount
        self.metrics = metrics
        self.tool = tool
    }
}

/// A trained poison detector as stored in a JSON file: the feature set and feature names, the benign
/// bank (if the feature set normalises against one), standardisation, the logistic-regression
/// coefficients, the decision threshold and how it was chosen, out-of-distribution bounds, provenance.
///
/// Decoding is strict: unknown or missing keys, wrong lengths, non-finite numbers, non-positive
/// standard deviations and thresholds outside (0, 1) are errors that name the offending field.
public struct DetectorModel: Sendable, Equatable, Codable {
    public static let formatName = "adapterd-detector"
    public static let currentVersion = 1

    public var format: String
    public var version: Int
    /// `DetectorFeatureSet` raw value.
    public var featureSet: String
    public var featureNames: [String]
    public var bank: BenignBank?
    public var means: [Double]
    public var stds: [Double]
    public var coefficients: [Double]
    public var intercept: Double
    public var l2: Double
    public var threshold: Double
    public var thresholdPolicy: ThresholdPolicy
    /// An adapter with any standardised feature beyond ±this bound is out of distribution.
    public var maxAbsZ: Double
    /// Profiles (`AdapterProfile.key`) seen in training; others are out of distribution.
    public var profiles: [String]
    public var provenance: DetectorProvenance

    public init(featureSet: String, featureNames: [String], bank: BenignBank?, means: [Double], stds: [Double],
                coefficients: [Double], intercept: Double, l2: Double, threshold: Double,
                thresholdPolicy: ThresholdPolicy, maxAbsZ: Double, profiles: [String], provenance: DetectorProvenance) {
        self.format = Self.formatName
        self.version = Self.currentVersion
        self.featureSet = featureSet
        self.featureNames = featureNames
        self.bank = bank
        self.means = means
        self.stds = stds
        self.coefficients = coefficients
        self.intercept = intercept
        self.l2 = l2
        self.threshold = threshold
        self.thresholdPolicy = thresholdPolicy
        self.maxAbsZ = maxAbsZ
        self.profiles = profiles
        self.provenance = provenance
    }

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case format, version, featureSet, featureNames, bank, means, stds, coefficients, intercept, l2
        case threshold, thresholdPolicy, maxAbsZ, profiles, provenance
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        let any = try decoder.container(keyedBy: AnyKey.self)
        if let unknown = any.allKeys.map(\.stringValue).filter({ !known.contains($0) }).sorted().first {
            throw DetectorError(.malformedModel, "unknown key '\(unknown)' in the detector model")
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        format = try c.decode(String.self, forKey: .format)
        version = try c.decode(Int.self, forKey: .version)
        featureSet = try c.decode(String.self, forKey: .featureSet)
        featureNames = try c.decode([String].self, forKey: .featureNames)
        bank = try c.decodeIfPresent(BenignBank.self, forKey: .bank)
        means = try c.decode([Double].self, forKey: .means)
        stds = try c.decode([Double].self, forKey: .stds)
        coefficients = try c.decode([Double].self, forKey: .coefficients)
        intercept = try c.decode(Double.self, forKey: .intercept)
        l2 = try c.decode(Double.self, forKey: .l2)
        threshold = try c.decode(Double.self, forKey: .threshold)
        thresholdPolicy = try c.decode(ThresholdPolicy.self, forKey: .thresholdPolicy)
        maxAbsZ = try c.decode(Double.self, forKey: .maxAbsZ)
        profiles = try c.decode([String].self, forKey: .profiles)
        provenance = try c.decode(DetectorProvenance.self, forKey: .provenance)
        try validate()
    }

    /// Checks the invariants strict decoding promises; throws `DetectorError(.malformedModel)`.
    public func validate() throws {
        func fail(_ m: String) -> DetectorError { DetectorError(.malformedModel, m) }
        guard format == Self.formatName else {
            throw fail("format is '\(format)', expected '\(Self.formatName)'")
        }
        guard version == Self.currentVersion else {
            throw fail("model version \(version) is not supported (this adapterd reads version \(Self.currentVersion))")
        }
        guard DetectorFeatureSet(rawValue: featureSet) != nil else {
            throw fail("unknown feature set '\(featureSet)' (known: \(DetectorFeatureSet.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let p = featureNames.count
        guard p > 0 else { throw fail("the model has no features") }
        guard Set(featureNames).count == p else { throw fail("feature names are not unique") }
        for (name, array) in [("means", means), ("stds", stds), ("coefficients", coefficients)] {
            guard array.count == p else {
                throw fail("'\(name)' has \(array.count) values but there are \(p) feature names")
            }
            if let i = array.firstIndex(where: { !$0.isFinite }) {
                throw fail("'\(name)'[\(i)] is not a finite number")
            }
        }
        if let i = stds.firstIndex(where: { $0 <= 0 }) {
            throw fail("'stds'[\(i)] (\(featureNames[i])) is \(stds[i]); standard deviations must be positive")
        }
        guard intercept.isFinite else { throw fail("'intercept' is not a finite number") }
        guard l2.isFinite, l2 > 0 else { throw fail("'l2' must be a positive number, got \(l2)") }
        guard threshold > 0, threshold < 1 else {
            throw fail("'threshold' must lie strictly between 0 and 1, got \(threshold)")
        }
        guard maxAbsZ.isFinite, maxAbsZ > 0 else { throw fail("'maxAbsZ' must be a positive number, got \(maxAbsZ)") }
        guard !profiles.isEmpty else { throw fail("'profiles' is empty: the model does not say which base models it knows") }
        if let bank {
            guard !bank.groups.isEmpty else { throw fail("the benign bank has no groups") }
            for g in bank.groups {
                guard g.means.count == p, g.stds.count == p else {
                    throw fail("benign bank group \(g.profile)/\(g.rank.map(String.init) ?? "all") has \(g.means.count) means and \(g.stds.count) stds for \(p) features")
                }
                guard g.means.allSatisfy(\.isFinite), g.stds.allSatisfy({ $0.isFinite && $0 > 0 }) else {
                    throw fail("benign bank group \(g.profile)/\(g.rank.map(String.init) ?? "all") has non-finite or non-positive statistics")
                }
            }
        }
    }

    /// Largest model file `load` reads (the built-in models are about 100 KB).
    public static let maximumFileBytes = 64 * 1024 * 1024

    /// Reads and validates a model file (a regular file, `RegularFile`); every failure is a
    /// `DetectorError` naming the file.
    public static func load(from url: URL) throws -> DetectorModel {
        let data: Data
        do {
            data = try RegularFile.read(url, maximumBytes: maximumFileBytes)
        } catch {
            throw DetectorError(.malformedModel, "cannot read the detector model: \(error.message)")
        }
        do {
            return try decode(data)
        } catch let e as DetectorError {
            throw DetectorError(.malformedModel, "\(url.path): \(e.message)")
        }
    }

    /// Decodes and validates model JSON.
    public static func decode(_ data: Data) throws -> DetectorModel {
        do {
            let d = JSONDecoder()
            d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            return try d.decode(DetectorModel.self, from: data)
        } catch let e as DetectorError {
            throw e
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw DetectorError(.malformedModel, "missing key '\(path(ctx.codingPath + [key]))' in the detector model")
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw DetectorError(.malformedModel, "wrong type at '\(path(ctx.codingPath))': \(ctx.debugDescription)")
        } catch let DecodingError.valueNotFound(_, ctx) {
            throw DetectorError(.malformedModel, "null at '\(path(ctx.codingPath))' in the detector model")
        } catch let DecodingError.dataCorrupted(ctx) {
            let underlying = ctx.underlyingError.map { " (\($0.localizedDescription))" } ?? ""
            let at = ctx.codingPath.isEmpty ? "" : " at '\(path(ctx.codingPath))'"
            throw DetectorError(.malformedModel, "the detector model is not valid\(at): \(ctx.debugDescription)\(underlying)")
        } catch {
            throw DetectorError(.malformedModel, "the detector model is not valid JSON: \(error)")
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }

    /// Pretty, key-sorted JSON.
    public func encoded() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try e.encode(self)
    }
}
