/// A detector model applied to one feature vector: score, standardised features, contributions and
/// the reasons (if any) that make the vector out of distribution.
public struct DetectorScoring: Sendable, Equatable {
    public var score: Double
    public var z: [Double]
    public var contributions: [FeatureContribution]
    public var outOfDistributionReasons: [String]
}

extension DetectorModel {
    /// Scores features extracted for this model's feature set. Out-of-distribution checks: the profile
    /// is one the model was trained on, the benign bank has a group for it, every value is finite and
    /// stays finite once standardised (so does the logit), and every standardised value lies within
    /// ±`maxAbsZ`. An overflow gives a NaN score and a reason, never a score.
    public func scoring(_ features: DetectorFeatures) throws -> DetectorScoring {
        guard features.names == featureNames else {
            throw DetectorError(.malformedModel,
                "the model expects feature set '\(featureSet)' with \(featureNames.count) features; got \(features.values.count) other features")
        }
        var reasons: [String] = []
        if !profiles.contains(features.profile.key) {
            reasons.append("base-model profile \(features.profile.key) was not in training (known: \(profiles.joined(separator: ", ")))")
        }
        if let i = features.values.firstIndex(where: { !$0.isFinite }) {
            reasons.append("feature \(featureNames[i]) is not finite")
            return DetectorScoring(score: .nan, z: [], contributions: [], outOfDistributionReasons: reasons)
        }
        var x = features.values
        if let bank {
            guard let normalised = bank.normalise(x, profile: features.profile.key, rank: features.rank) else {
                reasons.append("the benign bank has no adapters of profile \(features.profile.key)")
                return DetectorScoring(score: .nan, z: [], contributions: [], outOfDistributionReasons: reasons)
            }
            x = normalised
        }
        // Finite but extreme features (e.g. weights near the F32 limit) can overflow once centred and
        // scaled; such an adapter is far outside training and gets no score.
        if let i = x.firstIndex(where: { !$0.isFinite }) {
            reasons.append("feature \(featureNames[i]) (\(Self.short(features.values[i]))) overflows when compared with the benign bank")
            return DetectorScoring(score: .nan, z: [], contributions: [], outOfDistributionReasons: reasons)
        }
        var z = [Double](repeating: 0, count: x.count)
        var logit = intercept
        var contributions: [FeatureContribution] = []
        for j in x.indices {
            z[j] = (x[j] - means[j]) / stds[j]
            logit += coefficients[j] * z[j]
            contributions.append(FeatureContribution(name: featureNames[j], value: features.values[j], z: z[j],
                                                     contribution: coefficients[j] * z[j]))
        }
        if let i = z.firstIndex(where: { !$0.isFinite }) {
            reasons.append("feature \(featureNames[i]) (\(Self.short(features.values[i]))) overflows when standardised")
            return DetectorScoring(score: .nan, z: [], contributions: [], outOfDistributionReasons: reasons)
        }
        guard logit.isFinite else {
            reasons.append("the detector's logit overflows (standardised features of absurd size)")
            return DetectorScoring(score: .nan, z: [], contributions: [], outOfDistributionReasons: reasons)
        }
        let far = z.indices.filter { abs(z[$0]) > maxAbsZ }.sorted { abs(z[$0]) > abs(z[$1]) }
        if !far.isEmpty {
            let listed = far.prefix(3).map { "\(featureNames[$0]) (z = \(Self.short(z[$0])))" }.joined(separator: ", ")
            reasons.append("\(far.count) feature(s) beyond ±\(Self.short(maxAbsZ)) standard deviations of training: \(listed)")
        }
        contributions.sort { abs($0.contribution) > abs($1.contribution) }
        return DetectorScoring(score: LogisticRegression.sigmoid(logit), z: z, contributions: contributions,
                               outOfDistributionReasons: reasons)
    }

    /// A value to one decimal for messages ("12", "4.5"); any magnitude (and ±inf, NaN) is fine.
    static func short(_ v: Double) -> String {
        guard v.isFinite, abs(v) < 1e15 else { return v.isFinite ? String(format: "%.3g", v) : "\(v)" }
        let r = (v * 10).rounded() / 10
        return r == r.rounded() ? String(Int(r)) : String(r)
    }
}
