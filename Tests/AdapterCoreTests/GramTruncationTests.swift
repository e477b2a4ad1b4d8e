import Testing
@testable import AdapterCore

/// The Gram (CholeskyQR) path of `LowRank.truncatedWeightedSum`: taken on well-conditioned tall stacks,
/// declined (Householder QR instead) where its error bound does not hold, and always as accurate as the
/// dense truncated SVD, including rank-deficient, zero and nearly parallel stacks.
@Suite struct GramTruncationTests {
    /// Dense reference: the rank-k truncation of the dense weighted sum, and the sum.
    static func dense(_ updates: [LowRankUpdate], _ weights: [Double], rank: Int) throws -> (Matrix, Matrix) {
        let sum = try DenseReference.weightedSum(updates, weights: weights)
        return (DenseReference.deltaW(try DenseReference.truncatedSVD(sum, rank: rank).update), sum)
    }

    /// ‖approx − dense‖_F / ‖dense‖_F of the merges, and |residual − dense residual| / ‖sum‖_F.
    static func errors(_ result: TruncatedFactorization, _ updates: [LowRankUpdate], _ weights: [Double],
                       rank: Int) throws -> (merge: Double, residual: Double) {
        let (truncated, sum) = try dense(updates, weights, rank: rank)
        let approx = DenseReference.deltaW(result.update)
        let sumNorm = sum.frobeniusNormSquared.squareRoot()
        var residual = 0.0
        for (x, y) in zip(approx.elements, sum.elements) { residual += (x - y) * (x - y) }
        return (LowRankTesting.relativeDifference(approx, truncated),
                sumNorm > 0 ? abs(residual.squareRoot() - result.residualFrobeniusNorm) / sumNorm : residual.squareRoot())
    }

    static func randomUpdates(count: Int, out: Int, inn: Int, rank: Int, seed: UInt64) -> [LowRankUpdate] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { i in LowRankTesting.update(out: out, in: inn, rank: rank, scale: 0.5 + Double(i), &rng) }
    }

    @Test(arguments: [(60, 50, 4, [0.6, -1.3, 0.25, 2.0], 5), (80, 40, 3, [0.125, 0.125, 0.125], 4),
                      (50, 90, 6, [1, 1], 12)])
    func wellConditionedStacksTakeTheGramPathAndMatchDense(
        out: Int, inn: Int, rank: Int, weights: [Double], k: Int
    ) throws {
        let updates = Self.randomUpdates(count: weights.count, out: out, inn: inn, rank: rank, seed: UInt64(out + k))
        let gram = try #require(try LowRank.gramTruncatedWeightedSum(updates, weights: weights, rank: k))
        let (merge, residual) = try Self.errors(gram, updates, weights, rank: k)
        #expect(merge < 1e-10)
        #expect(residual < 1e-12)
        let qr = try LowRank.truncatedWeightedSumByHouseholderQR(updates, weights: weights, rank: k)
        #expect(gram.singularValues.count == qr.singularValues.count)
        for (x, y) in zip(gram.singularValues, qr.singularValues) { #expect(abs(x - y) <= 1e-12 * qr.singularValues[0]) }
        // A' keeps orthonormal rows on the kept directions, and the public entry point uses this path.
        let aat = gram.update.a.multiplied(by: gram.update.a, transposeOther: true)
        for i in 0..<min(k, gram.singularValues.count) { #expect(abs(aat[i, i] - 1) < 1e-10) }
        #expect(try LowRank.truncatedWeightedSum(updates, weights: weights, rank: k) == gram)
    }

    @Test func identicalAdaptersAreDeclinedAndStillExact() throws {
        let one = Self.randomUpdates(count: 1, out: 40, inn: 30, rank: 4, seed: 3)[0]
        let updates = [one, one, one]
        let weights = [0.5, 0.25, 0.25]
        // The stacked factors repeat the same columns: singular Gram, no Cholesky.
        #expect(try LowRank.gramTruncatedWeightedSum(updates, weights: weights, rank: 4) == nil)
        let result = try LowRank.truncatedWeightedSum(updates, weights: weights, rank: 4)
        let (merge, residual) = try Self.errors(result, updates, weights, rank: 4)
        #expect(merge < 1e-10 && residual < 1e-12)
        #expect(result.residualFrobeniusNorm <= 1e-12 * result.frobeniusNorm)
    }

    @Test func zeroModulesAndZeroWeightsAreLeftOutExactly() throws {
        var updates = Self.randomUpdates(count: 3, out: 40, inn: 30, rank: 3, seed: 4)
        // A padded module (rank 1, zeros), a zero B with a non-zero A, and a zero weight.
        updates.append(LowRankUpdate(unchecked: Matrix(zeros: 40, 1), Matrix(zeros: 1, 30), 1))
        var rng = SeededGenerator(seed: 9)
        updates.append(LowRankUpdate(unchecked: Matrix(zeros: 40, 2), LowRankTesting.random(2, 30, &rng), 2))
        let weights = [1, 0.5, 0, 1, 1]
        let gram = try #require(try LowRank.gramTruncatedWeightedSum(updates, weights: weights, rank: 4))
        let (merge, residual) = try Self.errors(gram, updates, weights, rank: 4)
        #expect(merge < 1e-10 && residual < 1e-12)
        #expect(gram.update.b.rows == 40 && gram.update.a.rows == 4)
        // Every term zero: zero factors and zero singular values, never NaN.
        let zero = LowRankUpdate(unchecked: Matrix(zeros: 40, 2), Matrix(zeros: 2, 30), 1)
        let nothing = try #require(try LowRank.gramTruncatedWeightedSum([zero, zero], weights: [1, 1], rank: 3))
        #expect(nothing.update.b.elements.allSatisfy { $0 == 0 } && nothing.update.a.elements.allSatisfy { $0 == 0 })
        #expect(nothing.singularValues == [0, 0, 0, 0] && nothing.residualFrobeniusNorm == 0)
    }

    @Test(arguments: [1e-2, 1e-5, 1e-9])
    func nearlyParallelFactorsStayAccurate(separation: Double) throws {
        // B₂ = B₁ + δ·E and A₂ = A₁ + δ·F, merged with opposite signs: the sum is O(δ) while the
        // stacked factors have condition number ≈ 1/δ.
        var rng = SeededGenerator(seed: 11)
        let x = LowRankTesting.update(out: 50, in: 40, rank: 4, &rng)
        let e = LowRankTesting.random(50, 4, &rng), f = LowRankTesting.random(4, 40, &rng)
        let y = LowRankUpdate(unchecked: Matrix(rows: 50, cols: 4, elements: zip(x.b.elements, e.elements).map { $0 + separation * $1 }),
                              Matrix(rows: 4, cols: 40, elements: zip(x.a.elements, f.elements).map { $0 + separation * $1 }), 1)
        let third = LowRankTesting.update(out: 50, in: 40, rank: 2, &rng)
        let updates = [x, y, third], weights = [1.0, -1.0, separation]
        let result = try LowRank.truncatedWeightedSum(updates, weights: weights, rank: 3)
        let (merge, residual) = try Self.errors(result, updates, weights, rank: 3)
        // Relative to the O(δ) sum, the merge is as accurate as the dense reference's own rounding
        // allows: forming the sum densely cancels to ≈ ε/δ ≈ 10⁻⁷ at δ = 10⁻⁹.
        #expect(merge < 1e-6, "separation \(separation): relative error \(merge)")
        #expect(residual < 1e-6)
        // Only a well-separated stack (κ ≈ 10²) is left to the Gram path.
        let taken = try LowRank.gramTruncatedWeightedSum(updates, weights: weights, rank: 3) != nil
        #expect(taken == (separation >= 1e-2))
    }

    @Test func theConditionGuardIsWhatKeepsIllConditionedStacksAccurate() throws {
        // Columns of B̂ nearly parallel (κ ≈ 10⁷): CholeskyQR alone would lose about ε·κ² ≈ 10⁻² of
        // orthogonality; the estimate dtrcon gives is far above the limit, so the path is declined.
        var rng = SeededGenerator(seed: 12)
        let x = LowRankTesting.update(out: 60, in: 50, rank: 3, &rng)
        let e = LowRankTesting.random(60, 3, &rng)
        let y = LowRankUpdate(unchecked: Matrix(rows: 60, cols: 3, elements: zip(x.b.elements, e.elements).map { $0 + 1e-7 * $1 }),
                              LowRankTesting.random(3, 50, &rng), 1)
        let b = LowRank.stackedColumns([x, y])
        let r = try #require(try LAPACK.cholesky(LAPACK.gramOfColumns(b)))
        #expect(try LAPACK.reciprocalConditionOfUpperTriangular(r) * LowRank.gramConditionLimit < 1)
        #expect(try LowRank.gramTruncatedWeightedSum([x, y], weights: [1, 1], rank: 4) == nil)
        let (merge, _) = try Self.errors(try LowRank.truncatedWeightedSum([x, y], weights: [1, 1], rank: 4), [x, y], [1, 1], rank: 4)
        #expect(merge < 1e-9)
    }

    /// Many members of a few families (each a family's factors ± 20 %), as a plan's largest clusters
    /// stack them: dtrcon's 1-norm estimate is above the limit, the 2-norm condition number the error
    /// bound is about is ≈ 50, so the Gram path is taken, and it matches the dense truncation.
    @Test func familyStacksOverTheOneNormEstimateTakeTheGramPath() throws {
        var rng = SeededGenerator(seed: 21)
        let (out, inn, rank) = (512, 384, 4)
        func uniform(_ rows: Int, _ cols: Int) -> Matrix {
            Matrix(rows: rows, cols: cols, elements: (0..<(rows * cols)).map { _ in rng.nextUnitDouble() * 2 - 1 })
        }
        func near(_ m: Matrix) -> Matrix {
            Matrix(rows: m.rows, cols: m.cols, elements: m.elements.map { $0 + 0.2 * (rng.nextUnitDouble() * 2 - 1) })
        }
        var updates: [LowRankUpdate] = []
        for _ in 0..<8 {
            let (b, a) = (uniform(out, rank), uniform(rank, inn))
            for _ in 0..<8 { updates.append(LowRankUpdate(unchecked: near(b), near(a), 1)) }
        }
        let weights = [Double](repeating: 1.0 / 64, count: 64)
        let b = LowRank.stackedColumns(updates)
        let gram = LAPACK.gramOfColumns(b)
        let (r, _) = try #require(try LowRank.scaledCholesky(gram, active: Array(0..<(8 * 8 * rank))))
        #expect(try LAPACK.reciprocalConditionOfUpperTriangular(r) * LowRank.gramConditionLimit < 1)
        let twoNorm = try LAPACK.twoNormConditionOfUpperTriangular(r)
        let singular = try LAPACK.singularValues(r)
        let exact = singular.max()! / singular.min()!
        #expect(twoNorm <= exact * (1 + 1e-9) && twoNorm >= 0.9 * exact, "estimate \(twoNorm), exact \(exact)")
        #expect(exact < 200)
        let result = try #require(try LowRank.gramTruncatedWeightedSum(updates, weights: weights, rank: 6))
        let (merge, residual) = try Self.errors(result, updates, weights, rank: 6)
        #expect(merge < 1e-10)
        #expect(residual < 1e-12)
    }

    /// The 2-norm estimate against the singular values, on triangular factors from well to badly
    /// conditioned: never above the exact figure, and within 10 % of it.
    @Test(arguments: [1.0, 1e-2, 1e-5, 1e-9])
    func twoNormConditionEstimateIsCloseFromBelow(smallest: Double) throws {
        var rng = SeededGenerator(seed: 22)
        let n = 40
        var r = Matrix(zeros: n, n)
        for i in 0..<n {
            r[i, i] = 1 + rng.nextUnitDouble()
            for j in (i + 1)..<n { r[i, j] = 0.3 * (rng.nextUnitDouble() * 2 - 1) }
        }
        r[n - 1, n - 1] *= smallest
        let singular = try LAPACK.singularValues(r)
        let exact = singular.max()! / singular.min()!
        let estimate = try LAPACK.twoNormConditionOfUpperTriangular(r)
        #expect(estimate <= exact * (1 + 1e-9) && estimate >= 0.9 * exact, "estimate \(estimate), exact \(exact)")
    }

    @Test func wideStacksAndNonFiniteFactorsGoToHouseholder() throws {
        // Σr = 12 > out = 8: B̂ is wide, its Gram singular.
        let wide = Self.randomUpdates(count: 3, out: 8, inn: 30, rank: 4, seed: 13)
        #expect(try LowRank.gramTruncatedWeightedSum(wide, weights: [1, 1, 1], rank: 3) == nil)
        let (merge, _) = try Self.errors(try LowRank.truncatedWeightedSum(wide, weights: [1, 1, 1], rank: 3), wide, [1, 1, 1], rank: 3)
        #expect(merge < 1e-10)
        var bad = Self.randomUpdates(count: 1, out: 20, inn: 20, rank: 2, seed: 14)[0].b
        bad[3, 1] = .nan
        let u = LowRankUpdate(unchecked: bad, Matrix(zeros: 2, 20), 1)
        #expect(throws: LinearAlgebraError.self) { try LowRank.truncatedWeightedSum([u], weights: [1], rank: 1) }
    }

    @Test func reciprocalConditionAndTriangularSolve() throws {
        let r = Matrix(rows: 2, cols: 2, elements: [2, 1, 0, 1e-4])
        let rcond = try LAPACK.reciprocalConditionOfUpperTriangular(r)
        #expect(rcond > 0 && rcond < 1e-3)
        #expect(try LAPACK.reciprocalConditionOfUpperTriangular(Matrix.identity(3)) == 1)
        let x = LAPACK.solveUpperTriangular(r, Matrix(rows: 2, cols: 1, elements: [3, 1e-4]))
        #expect(abs(x[0, 0] - 1) < 1e-12 && abs(x[1, 0] - 1) < 1e-12)
    }
}
