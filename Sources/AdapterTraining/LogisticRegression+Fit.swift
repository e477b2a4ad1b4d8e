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
/// penalised objective
///
///     f(β, b) = Σᵢ wᵢ [log(1 + exp(zᵢ)) − yᵢ zᵢ] + (λ/2)‖β‖²,   zᵢ = b + β·xᵢ,
///
/// where the intercept b is not penalised. Each step solves (XᵀWX + λI) Δ = −∇f by a Cholesky
/// factorisation of the (p+1)×(p+1) Hessian; the objective is strictly convex for λ > 0, so Newton with
/// an Armijo line search converges globally. Features are expected to be standardised already.
extension LogisticRegression {
    /// log(1 + exp(z)) without overflow.
    @inline(__always)
    private static func softplus(_ z: Double) -> Double {
        z > 0 ? z + log1p(exp(-z)) : log1p(exp(z))
    }

    /// Fits the model to rows `x` (n × p) with labels `y` (true = positive) and optional sample weights.
    public func fit(x: [[Double]], y: [Bool], weights: [Double]? = nil) throws -> LogisticFit {
        let n = x.count
        guard n > 0 else { throw LogisticRegressionError(.emptyTrainingSet, "no training examples") }
        guard y.count == n else {
            throw LogisticRegressionError(.shapeMismatch, "\(n) feature rows but \(y.count) labels")
        }
        let p = x[0].count
        for (i, row) in x.enumerated() {
            guard row.count == p else {
                throw LogisticRegressionError(.shapeMismatch, "row \(i) has \(row.count) features, expected \(p)")
            }
            guard row.allSatisfy({ $0.isFinite }) else {
                throw LogisticRegressionError(.nonFiniteInput, "row \(i) has a NaN or infinite feature")
            }
        }
        let w = weights ?? [Double](repeating: 1, count: n)
        guard w.count == n, w.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw LogisticRegressionError(.invalidParameter, "sample weights must be \(n) finite non-negative numbers")
        }
        guard l2 > 0, l2.isFinite else {
            throw LogisticRegressionError(.invalidParameter, "the L2 penalty must be positive and finite, got \(l2)")
        }
        var positiveWeight = 0.0, negativeWeight = 0.0
        for i in 0..<n { if y[i] { positiveWeight += w[i] } else { negativeWeight += w[i] } }
        guard positiveWeight > 0, negativeWeight > 0 else {
            throw LogisticRegressionError(.singleClass, "training needs examples of both classes")
        }
        let totalWeight = positiveWeight + negativeWeight
        let dim = p + 1  // index p is the intercept

        // Start from β = 0 and the intercept at the weighted log-odds: the unpenalised optimum for β = 0.
        var theta = [Double](repeating: 0, count: dim)
        theta[p] = log(positiveWeight / negativeWeight)

        func objective(_ t: [Double]) -> Double {
            var f = 0.0
            for i in 0..<n {
                var z = t[p]
                let row = x[i]
                for j in 0..<p { z += t[j] * row[j] }
                f += w[i] * (Self.softplus(z) - (y[i] ? z : 0))
            }
            var pen = 0.0
            for j in 0..<p { pen += t[j] * t[j] }
            return f + 0.5 * l2 * pen
        }

        var f = objective(theta)
        var iterations = 0
        var converged = false
        var gradNorm = Double.infinity
        let tol = tolerance * max(1, totalWeight)

        while iterations < maxIterations {
            // Gradient and Hessian of the penalised objective.
            var grad = [Double](repeating: 0, count: dim)
            var hess = [Double](repeating: 0, count: dim * dim)
            for i in 0..<n {
                let row = x[i]
                var z = theta[p]
                for j in 0..<p { z += theta[j] * row[j] }
                let mu = Self.sigmoid(z)
                let r = w[i] * (mu - (y[i] ? 1 : 0))
                let h = w[i] * mu * (1 - mu)
                for j in 0..<p { grad[j] += r * row[j] }
                grad[p] += r
                if h > 0 {
                    for j in 0..<p {
                        let hj = h * row[j]
                        if hj == 0 { continue }
                        for k in j..<p { hess[j * dim + k] += hj * row[k] }
                        hess[j * dim + p] += hj
                    }
                    hess[p * dim + p] += h
                }
            }
            for j in 0..<p {
                grad[j] += l2 * theta[j]
                hess[j * dim + j] += l2
            }
            for j in 0..<dim { for k in 0..<j { hess[j * dim + k] = hess[k * dim + j] } }
            gradNorm = grad.reduce(0) { max($0, abs($1)) }
            if gradNorm <= tol {
                converged = true
                break
            }
            iterations += 1
            guard let step = Self.choleskySolve(hess, dim, grad.map { -$0 }) else {
                throw LogisticRegressionError(.numericalFailure, "the Hessian is not positive definite")
            }
            // Backtracking (Armijo) line search on the objective.
            var slope = 0.0
            for j in 0..<dim { slope += grad[j] * step[j] }
            var t = 1.0
            var accepted = false
            var candidate = theta
            var fc = f
            for _ in 0..<60 {
                for j in 0..<dim { candidate[j] = theta[j] + t * step[j] }
                fc = objective(candidate)
                if fc.isFinite && fc <= f + 1e-4 * t * slope { accepted = true; break }
                t *= 0.5
            }
            if !accepted {
                // No decrease possible at machine precision: we are at the optimum up to rounding.
                converged = gradNorm <= max(tol, 1e-7 * max(1, totalWeight))
                break
            }
            theta = candidate
            f = fc
        }
        if !converged {
            // Final gradient at the last iterate.
            var grad = [Double](repeating: 0, count: dim)
            for i in 0..<n {
                let row = x[i]
                var z = theta[p]
                for j in 0..<p { z += theta[j] * row[j] }
                let r = w[i] * (Self.sigmoid(z) - (y[i] ? 1 : 0))
                for j in 0..<p { grad[j] += r * row[j] }
                grad[p] += r
            }
            for j in 0..<p { grad[j] += l2 * theta[j] }
            gradNorm = grad.reduce(0) { max($0, abs($1)) }
            converged = gradNorm <= tol
        }
        return LogisticFit(coefficients: Array(theta[0..<p]), intercept: theta[p], iterations: iterations,
                           converged: converged, gradientNorm: gradNorm, objective: f)
    }

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
