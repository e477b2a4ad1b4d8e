import AdapterCore
import Foundation

/// Calibration: how `DetectorTrainer` applies a threshold policy to out-of-fold scores.
extension ThresholdPolicy {
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

    private static func logit(_ p: Double) -> Double {
        let q = min(max(p, 1e-300), 1 - 1e-16)
        return log(q / (1 - q))
    }

    private static func sigmoid(_ z: Double) -> Double { LogisticRegression.sigmoid(z) }
}
