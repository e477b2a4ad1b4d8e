import AdapterCore
import Foundation

/// The objective `LogisticRegression.fit` minimises, over θ = (β, b) with the intercept b at index p:
///
///     f(θ) = Σᵢ wᵢ [log(1 + exp(zᵢ)) − yᵢ zᵢ] + (λ/2)‖β‖²,   zᵢ = b + β·xᵢ,
///
/// with its gradient and Hessian. Made only from a checked training set (`init` throws otherwise).
struct PenalisedLogisticObjective {
    let x: [[Double]]
    let y: [Bool]
    let w: [Double]
    let l2: Double
    /// Features per row; θ has `p + 1` entries.
    let p: Int
    let positiveWeight: Double
    let negativeWeight: Double

    var dimension: Int { p + 1 }
    var totalWeight: Double { positiveWeight + negativeWeight }

    /// Checks the training set: n × p finite rows, n labels of both classes, n finite non-negative
    /// weights (all 1 when nil), a positive finite penalty.
    init(x: [[Double]], y: [Bool], weights: [Double]?, l2: Double) throws {
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
        (self.x, self.y, self.w, self.l2, self.p) = (x, y, w, l2, p)
        (self.positiveWeight, self.negativeWeight) = (positiveWeight, negativeWeight)
    }

    /// β = 0 and the intercept at the weighted log-odds: the unpenalised optimum for β = 0.
    var start: [Double] {
        var theta = [Double](repeating: 0, count: dimension)
        theta[p] = log(positiveWeight / negativeWeight)
        return theta
    }

    /// zᵢ = b + β·xᵢ.
    private func logit(_ theta: [Double], _ row: [Double]) -> Double {
        var z = theta[p]
        for j in 0..<p { z += theta[j] * row[j] }
        return z
    }

    /// f(θ).
    func value(_ theta: [Double]) -> Double {
        var f = 0.0
        for i in 0..<x.count {
            let z = logit(theta, x[i])
            f += w[i] * (Self.softplus(z) - (y[i] ? z : 0))
        }
        var penalty = 0.0
        for j in 0..<p { penalty += theta[j] * theta[j] }
        return f + 0.5 * l2 * penalty
    }

    /// ∇f(θ) and, when asked for, the Hessian ∇²f(θ) (row-major, dimension × dimension; else empty).
    func derivatives(_ theta: [Double], hessian wanted: Bool) -> (gradient: [Double], hessian: [Double]) {
        let dim = dimension
        var grad = [Double](repeating: 0, count: dim)
        var hess = [Double](repeating: 0, count: wanted ? dim * dim : 0)
        for i in 0..<x.count {
            let row = x[i]
            let mu = LogisticRegression.sigmoid(logit(theta, row))
            let r = w[i] * (mu - (y[i] ? 1 : 0))
            for j in 0..<p { grad[j] += r * row[j] }
            grad[p] += r
            let h = w[i] * mu * (1 - mu)
            if wanted && h > 0 {
                for j in 0..<p {
                    let hj = h * row[j]
                    if hj == 0 { continue }
                    for k in j..<p { hess[j * dim + k] += hj * row[k] }
                    hess[j * dim + p] += hj
                }
                hess[p * dim + p] += h
            }
        }
        for j in 0..<p { grad[j] += l2 * theta[j] }
        if wanted {
            for j in 0..<p { hess[j * dim + j] += l2 }
            for j in 0..<dim { for k in 0..<j { hess[j * dim + k] = hess[k * dim + j] } }
        }
        return (grad, hess)
    }

    /// Backtracking (Armijo) line search from θ (where f = `value`) along `step`: the first
    /// θ + t·step, t = 1, ½, ¼, … (60 tries), that decreases f enough; nil when none does.
    func backtrack(from theta: [Double], value f: Double, step: [Double],
                   gradient grad: [Double]) -> (theta: [Double], value: Double)? {
        var slope = 0.0
        for j in 0..<dimension { slope += grad[j] * step[j] }
        var t = 1.0
        var candidate = theta
        for _ in 0..<60 {
            for j in 0..<dimension { candidate[j] = theta[j] + t * step[j] }
            let fc = value(candidate)
            if fc.isFinite && fc <= f + 1e-4 * t * slope { return (candidate, fc) }
            t *= 0.5
        }
        return nil
    }

    /// log(1 + exp(z)) without overflow.
    @inline(__always)
    private static func softplus(_ z: Double) -> Double {
        z > 0 ? z + log1p(exp(-z)) : log1p(exp(z))
    }
}
