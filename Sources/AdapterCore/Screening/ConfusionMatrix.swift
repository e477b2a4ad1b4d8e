/// Counts of a binary classifier's decisions against the truth (positive = poisoned).
public struct ConfusionMatrix: Sendable, Equatable, Codable {
    public var truePositives: Int
    public var falsePositives: Int
    public var trueNegatives: Int
    public var falseNegatives: Int

    public init(truePositives: Int = 0, falsePositives: Int = 0, trueNegatives: Int = 0, falseNegatives: Int = 0) {
        self.truePositives = truePositives
        self.falsePositives = falsePositives
        self.trueNegatives = trueNegatives
        self.falseNegatives = falseNegatives
    }

    /// Tallies `predicted` against `actual`, pairwise.
    public init(predicted: [Bool], actual: [Bool]) {
        self.init()
        for (p, a) in zip(predicted, actual) {
            switch (p, a) {
            case (true, true): truePositives += 1
            case (true, false): falsePositives += 1
            case (false, false): trueNegatives += 1
            case (false, true): falseNegatives += 1
            }
        }
    }

    public var total: Int { truePositives + falsePositives + trueNegatives + falseNegatives }
    public var accuracy: Double { total == 0 ? .nan : Double(truePositives + trueNegatives) / Double(total) }
    /// Recall on the positive class; NaN without positives.
    public var truePositiveRate: Double {
        let p = truePositives + falseNegatives
        return p == 0 ? .nan : Double(truePositives) / Double(p)
    }
    /// Share of negatives flagged; NaN without negatives.
    public var falsePositiveRate: Double {
        let n = falsePositives + trueNegatives
        return n == 0 ? .nan : Double(falsePositives) / Double(n)
    }

    public static func + (l: ConfusionMatrix, r: ConfusionMatrix) -> ConfusionMatrix {
        ConfusionMatrix(truePositives: l.truePositives + r.truePositives,
                        falsePositives: l.falsePositives + r.falsePositives,
                        trueNegatives: l.trueNegatives + r.trueNegatives,
                        falseNegatives: l.falseNegatives + r.falseNegatives)
    }
}
