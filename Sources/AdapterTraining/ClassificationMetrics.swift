import AdapterCore

/// Threshold-free and thresholded quality measures of scores against binary labels.
public enum ClassificationMetrics {
    /// Area under the ROC curve by the rank (Mann–Whitney) formula, with tied scores given their
    /// average rank, so a tie between a positive and a negative counts one half.
    /// NaN when either class is absent.
    public static func auc(scores: [Double], labels: [Bool]) -> Double {
        let n = min(scores.count, labels.count)
        let positives = labels.prefix(n).filter { $0 }.count
        let negatives = n - positives
        guard positives > 0, negatives > 0 else { return .nan }
        let order = (0..<n).sorted { scores[$0] < scores[$1] }
        var ranks = [Double](repeating: 0, count: n)
        var i = 0
        while i < n {
            var j = i
            while j + 1 < n && scores[order[j + 1]] == scores[order[i]] { j += 1 }
            let average = Double(i + j) / 2 + 1  // ranks are 1-based
            for k in i...j { ranks[order[k]] = average }
            i = j + 1
        }
        var positiveRankSum = 0.0
        for k in 0..<n where labels[k] { positiveRankSum += ranks[k] }
        let p = Double(positives)
        return (positiveRankSum - p * (p + 1) / 2) / (p * Double(negatives))
    }

    /// Confusion matrix of "score ≥ threshold means positive".
    public static func confusion(scores: [Double], labels: [Bool], threshold: Double) -> ConfusionMatrix {
        ConfusionMatrix(predicted: scores.map { $0 >= threshold }, actual: labels)
    }
}
