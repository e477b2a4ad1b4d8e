import AdapterCore
import Foundation

/// Why fitting a logistic regression failed.
public typealias LogisticRegressionError = CodedError<LogisticRegressionErrorCode>

/// The kinds of `LogisticRegressionError`.
public enum LogisticRegressionErrorCode: ErrorCode {
    case emptyTrainingSet
    case shapeMismatch
    case singleClass
    case nonFiniteInput
    case invalidParameter
    case numericalFailure
}

/// The result of fitting `LogisticRegression`: coefficients on the (already standardised) features,
/// the unpenalised intercept, and how the solver got there.
public struct LogisticFit: Sendable, Equatable {
    public var coefficients: [Double]
    public var intercept: Double
    /// Newton iterations taken.
    public var iterations: Int
    /// True when the gradient of the penalised objective fell below the tolerance.
    public var converged: Bool
    /// Max-norm of the gradient of the penalised objective at the solution.
    public var gradientNorm: Double
    /// Penalised negative log-likelihood at the solution.
    public var objective: Double

    /// Linear predictor `intercept + coefficients · x`.
    public func logit(_ x: [Double]) -> Double {
        var z = intercept
        for j in 0..<min(x.count, coefficients.count) { z += coefficients[j] * x[j] }
        return z
    }

    /// Probability of the positive class.
    public func probability(_ x: [Double]) -> Double { LogisticRegression.sigmoid(logit(x)) }
}

/// The fit of `LogisticRegression`: Newton's method (IRLS) with a backtracking line search on the
/// penalised objective (`PenalisedLogisticObjective`), where the intercept is not penalised. Each step
/// solves (XᵀWX + λI) Δ = −∇f by a Cholesky factorisation of the (p+1)×(p+1) Hessian; the objective
/// is strictly convex for λ > 0, so Newton with an Armijo line search converges globally. Features
/// are expected to be standardised already.
extension LogisticRegression {
    /// Fits the model to rows `x` (n × p) with labels `y` (true = positive) and optional sample weights.
    public func fit(x: [[Double]], y: [Bool], weights: [Double]? = nil) throws -> LogisticFit {
        let objective = try PenalisedLogisticObjective(x: x, y: y, weights: weights, l2: l2)
        var theta = objective.start
        var f = objective.value(theta)
        var iterations = 0
        var converged = false
        var gradNorm = Double.infinity
        let tol = tolerance * max(1, objective.totalWeight)

        while iterations < maxIterations {
            let (grad, hess) = objective.derivatives(theta, hessian: true)
            gradNorm = Self.maxNorm(grad)
            if gradNorm <= tol {
                converged = true
                break
            }
            iterations += 1
            guard let step = Self.choleskySolve(hess, objective.dimension, grad.map { -$0 }) else {
                throw LogisticRegressionError(.numericalFailure, "the Hessian is not positive definite")
            }
            guard let next = objective.backtrack(from: theta, value: f, step: step, gradient: grad) else {
                // No decrease possible at machine precision: we are at the optimum up to rounding.
                converged = gradNorm <= max(tol, 1e-7 * max(1, objective.totalWeight))
                break
            }
            (theta, f) = next
        }
        if !converged {
            // Final gradient at the last iterate.
            gradNorm = Self.maxNorm(objective.derivatives(theta, hessian: false).gradient)
            converged = gradNorm <= tol
        }
        let p = objective.p
        return LogisticFit(coefficients: Array(theta[0..<p]), intercept: theta[p], iterations: iterations,
                           converged: converged, gradientNorm: gradNorm, objective: f)
    }

    private static func maxNorm(_ v: [Double]) -> Double { v.reduce(0) { max($0, abs($1)) } }

    /// Solves H x = b for a symmetric positive-definite H (row-major, dim × dim) by Cholesky, H = L Lᵀ.
    /// Returns nil when H is not positive definite.
    static func choleskySolve(_ h: [Double], _ dim: Int, _ b: [Double]) -> [Double]? {
        var l = [Double](repeating: 0, count: dim * dim)
        for j in 0..<dim {
            var d = h[j * dim + j]
            for k in 0..<j { d -= l[j * dim + k] * l[j * dim + k] }
            guard d > 0, d.isFinite else { return nil }
            let ljj = d.squareRoot()
            l[j * dim + j] = ljj
            for i in (j + 1)..<max(j + 1, dim) {
                var s = h[i * dim + j]
                for k in 0..<j { s -= l[i * dim + k] * l[j * dim + k] }
                l[i * dim + j] = s / ljj
            }
        }
        // Forward: L y = b.
        var y = b
        for i in 0..<dim {
            var s = y[i]
            for k in 0..<i { s -= l[i * dim + k] * y[k] }
            y[i] = s / l[i * dim + i]
        }
        // Backward: Lᵀ x = y.
        var x = y
        for i in stride(from: dim - 1, through: 0, by: -1) {
            var s = x[i]
            for k in (i + 1)..<max(i + 1, dim) { s -= l[k * dim + i] * x[k] }
            x[i] = s / l[i * dim + i]
        }
        return x
    }
}
