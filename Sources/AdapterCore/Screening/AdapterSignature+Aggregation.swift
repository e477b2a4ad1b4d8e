/// How per-layer statistics of one projection are reduced to one value per statistic.
public enum LayerAggregation: String, Sendable, Codable, CaseIterable {
    /// Arithmetic mean over the projection's modules (the signature's `values`).
    case mean
    /// Largest value over the modules.
    case max
    /// Population standard deviation over the modules (0 for a single module).
    case standardDeviation = "std"

    /// Reduces a non-empty list; 0 for an empty one.
    public func reduce(_ xs: [Double]) -> Double {
        guard !xs.isEmpty else { return 0 }
        switch self {
        case .mean:
            return xs.reduce(0, +) / Double(xs.count)
        case .max:
            return xs.reduce(-Double.infinity) { Swift.max($0, $1) }
        case .standardDeviation:
            let mean = xs.reduce(0, +) / Double(xs.count)
            let variance = xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(xs.count)
            return variance.squareRoot()
        }
    }
}
