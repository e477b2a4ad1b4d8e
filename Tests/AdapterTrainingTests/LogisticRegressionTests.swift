@testable import AdapterCore
@testable import AdapterTraining
import Foundation
import Testing

@Suite("LogisticRegression")
struct LogisticRegressionTests {
    // A small problem with its reference fit. Reference coefficients computed with scikit-learn 1.9.1:
    // LogisticRegression(C=c, solver="newton-cholesky", tol=1e-12).fit(X, y), which minimises
    // C·Σ logloss + ½‖β‖² with an unpenalised intercept, i.e. λ = 1/C here; confirmed independently by
    // scipy 1.17.1 BFGS on the same objective (agreement to 1e-7).
    static let x: [[Double]] = [
        [0.5, -1.2, 0.3], [1.5, 0.2, -0.7], [-0.3, 0.8, 1.1], [2.0, -0.5, 0.0], [-1.1, -0.9, 0.4], [0.9, 1.3, -1.5],
        [-2.0, 0.1, 0.9], [0.0, -0.4, -0.2], [1.2, 0.7, 0.8], [-0.6, 1.9, -0.3], [0.3, -1.7, 1.6], [-1.4, 0.6, -1.0],
    ]
    static let y: [Bool] = [1, 1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0].map { $0 == 1 }

    @Test("matches the scikit-learn reference fit", arguments: [
        (1.0, [1.53336118, -0.40077063, -0.04323071], -0.15400099),
        (4.0, [0.76702229, -0.21320183, -0.02302664], -0.05365329),
    ])
    func matchesReference(l2: Double, coefficients: [Double], intercept: Double) throws {
        let fit = try LogisticRegression(l2: l2).fit(x: Self.x, y: Self.y)
        #expect(fit.converged)
        for (a, b) in zip(fit.coefficients, coefficients) { #expect(abs(a - b) < 1e-6) }
        #expect(abs(fit.intercept - intercept) < 1e-6)
    }

    @Test("gradient of the penalised objective vanishes at the solution")
    func gradientIsZero() throws {
        let l2 = 0.3
        let fit = try LogisticRegression(l2: l2).fit(x: Self.x, y: Self.y)
        var grad = [Double](repeating: 0, count: 4)
        for (row, label) in zip(Self.x, Self.y) {
            let r = fit.probability(row) - (label ? 1 : 0)
            for j in 0..<3 { grad[j] += r * row[j] }
            grad[3] += r
        }
        for j in 0..<3 { grad[j] += l2 * fit.coefficients[j] }
        #expect(grad.allSatisfy { abs($0) < 1e-9 })
    }

    @Test("agrees with an independent gradient-descent fit")
    func agreesWithGradientDescent() throws {
        let l2 = 0.5
        let fit = try LogisticRegression(l2: l2).fit(x: Self.x, y: Self.y)
        var t = [Double](repeating: 0, count: 4)
        for _ in 0..<20000 {
            var g = [Double](repeating: 0, count: 4)
            for (row, label) in zip(Self.x, Self.y) {
                let z = t[3] + zip(t[0..<3], row).map(*).reduce(0, +)
                let r = 1 / (1 + exp(-z)) - (label ? 1 : 0)
                for j in 0..<3 { g[j] += r * row[j] }
                g[3] += r
            }
            for j in 0..<3 { g[j] += l2 * t[j] }
            for j in 0..<4 { t[j] -= 0.05 * g[j] }
        }
        for j in 0..<3 { #expect(abs(fit.coefficients[j] - t[j]) < 1e-6) }
        #expect(abs(fit.intercept - t[3]) < 1e-6)
    }

    @Test("separable data stays finite thanks to the penalty")
    func separable() throws {
        let x: [[Double]] = [[-2], [-1], [1], [2]]
        let fit = try LogisticRegression(l2: 0.01).fit(x: x, y: [false, false, true, true])
        #expect(fit.converged)
        #expect(fit.coefficients[0].isFinite && fit.coefficients[0] > 1)
        #expect(fit.probability([3]) > 0.9 && fit.probability([-3]) < 0.1)
    }

    @Test("bad input gives clear errors")
    func errors() {
        #expect(throws: LogisticRegressionError.self) { try LogisticRegression().fit(x: [], y: []) }
        #expect {
            try LogisticRegression().fit(x: [[1], [2]], y: [true, true])
        } throws: { ($0 as? LogisticRegressionError)?.code == .singleClass }
        #expect {
            try LogisticRegression().fit(x: [[1], [2, 3]], y: [true, false])
        } throws: { ($0 as? LogisticRegressionError)?.code == .shapeMismatch }
        #expect {
            try LogisticRegression().fit(x: [[1], [.nan]], y: [true, false])
        } throws: { ($0 as? LogisticRegressionError)?.code == .nonFiniteInput }
        #expect {
            try LogisticRegression(l2: 0).fit(x: [[1], [2]], y: [true, false])
        } throws: { ($0 as? LogisticRegressionError)?.code == .invalidParameter }
    }

    @Test("standardiser maps training rows to mean 0, deviation 1 and keeps constant features finite")
    func standardiser() {
        let rows: [[Double]] = [[1, 5], [3, 5], [5, 5]]
        let s = FeatureStandardizer(fitting: rows)
        let z = rows.map { s.transform($0) }
        #expect(abs(z.map { $0[0] }.reduce(0, +)) < 1e-12)
        #expect(abs(z.map { $0[0] * $0[0] }.reduce(0, +) / 3 - 1) < 1e-12)
        #expect(s.stds[1] == 1 && z.allSatisfy { $0[1] == 0 })
    }
}
