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
