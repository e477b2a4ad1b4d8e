import Foundation

/// How a detector's decision threshold on the score (probability of "poisoned") is chosen.
public enum ThresholdPolicy: Sendable, Equatable, Codable {
    /// The lowest threshold whose false-positive rate on the benign calibration scores is at most the
    /// target. Calibration scores are out-of-fold scores of the training adapters (an inner
    /// cross-validation), so the threshold is not fitted on scores the model has memorised.
    case fixedFalsePositiveRate(Double)
    /// A constant threshold.
    case fixed(Double)

    /// A sentence for reports and model files.
    public var description: String {
        switch self {
        case .fixedFalsePositiveRate(let r):
            return "lowest threshold with false-positive rate ≤ \(r) on out-of-fold scores of the training adapters (inner cross-validation)"
        case .fixed(let t):
            return "fixed threshold \(t)"
        }
    }

    /// Chooses the threshold from calibration scores and labels (true = poisoned).
    ///
    /// For a target rate α with m benign scores, at most ⌊α·m⌋ benign scores may lie at or above the
    /// threshold. The threshold is placed just above the highest benign score that must pass, midway
    /// (on the logit scale) to the next higher calibration score of either class, which keeps the
    /// widest margin the calibration data allows. Without benign scores it falls back to 0.5.
    public func threshold(scores: [Double], labels: [Bool]) -> Double {
        switch self {
        case .fixed(let t):
            return t
        case .fixedFalsePositiveRate(let alpha):
            let benign = zip(scores, labels).filter { !$0.1 }.map(\.0).sorted(by: >)
            guard !benign.isEmpty else { return 0.5 }
            let allowed = Int((alpha * Double(benign.count) + 1e-9).rounded(.down))
            guard allowed < benign.count else { return benign[benign.count - 1] }
            // benign[allowed] is the highest benign score that must stay below the threshold.
            let mustPass = benign[allowed]
            guard let above = scores.filter({ $0 > mustPass }).min() else {
                return min(mustPass.nextUp, 1)
            }
            let mid = Self.sigmoid((Self.logit(mustPass) + Self.logit(above)) / 2)
            return (mid > mustPass && mid <= above) ? mid : above
        }
    }

    static func logit(_ p: Double) -> Double {
        let q = min(max(p, 1e-300), 1 - 1e-16)
        return log(q / (1 - q))
    }

    static func sigmoid(_ z: Double) -> Double { LogisticRegression.sigmoid(z) }

    // MARK: Codable: {"kind": "fixed-false-positive-rate", "value": 0.05}

    private enum CodingKeys: String, CodingKey { case kind, value }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let kind = try c.decode(String.self, forKey: .kind)
        let value = try c.decode(Double.self, forKey: .value)
        switch kind {
        case "fixed-false-positive-rate":
            guard value >= 0, value < 1 else {
                throw DecodingError.dataCorruptedError(forKey: .value, in: c,
                    debugDescription: "a target false-positive rate must be in [0, 1), got \(value)")
            }
            self = .fixedFalsePositiveRate(value)
        case "fixed":
            guard value > 0, value < 1 else {
                throw DecodingError.dataCorruptedError(forKey: .value, in: c,
                    debugDescription: "a fixed threshold must be in (0, 1), got \(value)")
            }
            self = .fixed(value)
        default:
            throw DecodingError.dataCorruptedError(forKey: .kind, in: c,
                debugDescription: "unknown threshold policy '\(kind)' (known: fixed-false-positive-rate, fixed)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .fixedFalsePositiveRate(let r):
            try c.encode("fixed-false-positive-rate", forKey: .kind)
            try c.encode(r, forKey: .value)
        case .fixed(let t):
            try c.encode("fixed", forKey: .kind)
            try c.encode(t, forKey: .value)
        }
    }
}
