import Foundation

/// The detector's L2-regularised binary logistic regression: its link function (`sigmoid`, all that
/// scoring needs) and the settings of its fit. The fit itself (`fit(x:y:weights:)`, Newton's method)
/// is offline training and lives in AdapterTraining.
public struct LogisticRegression: Sendable {
    /// λ, the L2 penalty on the coefficients (not the intercept).
    public var l2: Double
    public var maxIterations: Int
    /// Convergence when the max-norm of the gradient is below `tolerance · max(1, Σwᵢ)`.
    public var tolerance: Double

    public init(l2: Double = 1.0, maxIterations: Int = 100, tolerance: Double = 1e-10) {
        self.l2 = l2
        self.maxIterations = maxIterations
        self.tolerance = tolerance
    }

    @inline(__always)
    public static func sigmoid(_ z: Double) -> Double {
        if z >= 0 { return 1 / (1 + exp(-z)) }
        let e = exp(z)
        return e / (1 + e)
    }
}
