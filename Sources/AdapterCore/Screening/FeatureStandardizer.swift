/// Per-feature mean and standard deviation learned from training rows; maps a feature vector to
/// z-scores. A feature that is constant in training gets a standard deviation of 1, so it maps to
/// its deviation from the training value (and, with L2, a zero coefficient).
public struct FeatureStandardizer: Sendable, Equatable {
    public var means: [Double]
    public var stds: [Double]

    public init(means: [Double], stds: [Double]) {
        self.means = means
        self.stds = stds
    }

    /// Learns means and (population) standard deviations from `rows`, which must all have one length.
    public init(fitting rows: [[Double]]) {
        let p = rows.first?.count ?? 0
        var means = [Double](repeating: 0, count: p)
        var stds = [Double](repeating: 1, count: p)
        let n = Double(rows.count)
        if rows.count > 0 {
            for row in rows { for j in 0..<p { means[j] += row[j] } }
            for j in 0..<p { means[j] /= n }
            var vars = [Double](repeating: 0, count: p)
            for row in rows { for j in 0..<p { let d = row[j] - means[j]; vars[j] += d * d } }
            for j in 0..<p {
                let s = (vars[j] / n).squareRoot()
                stds[j] = s > 1e-12 * max(1, abs(means[j])) ? s : 1
            }
        }
        self.means = means
        self.stds = stds
    }

    public func transform(_ row: [Double]) -> [Double] {
        var z = [Double](repeating: 0, count: means.count)
        for j in 0..<min(row.count, means.count) { z[j] = (row[j] - means[j]) / stds[j] }
        return z
    }
}
