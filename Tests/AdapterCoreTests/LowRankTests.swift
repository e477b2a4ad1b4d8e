import Testing
@testable import AdapterCore

@Suite struct LowRankTests {
    /// (out, in, r): tall, wide, square, r above one or both widths, and the 1×1 case.
    static let shapes: [(Int, Int, Int)] = [(40, 30, 5), (30, 40, 5), (12, 12, 12), (8, 6, 10), (5, 50, 7), (50, 5, 7), (1, 1, 1)]

    @Test(arguments: shapes)
    func singularValuesMatchTheDensePath(out: Int, inn: Int, rank: Int) throws {
        var rng = SeededGenerator(seed: UInt64(out * 1000 + inn * 10 + rank))
        let u = LowRankTesting.update(out: out, in: inn, rank: rank, scale: -1.7, &rng)
        let factored = try LowRank.singularValues(of: u)
        let dense = try DenseReference.singularValues(of: u)
        let n = min(out, inn, rank)
        #expect(factored.count == n)
        for i in 0..<n { #expect(abs(factored[i] - dense[i]) <= 1e-10 * dense[0]) }
        // Everything the factored path leaves out is zero in the dense spectrum.
        for i in n..<dense.count { #expect(dense[i] <= 1e-10 * dense[0]) }
    }

    @Test func rankDeficientAndZeroUpdatesGiveZerosNotNaN() throws {
        var rng = SeededGenerator(seed: 5)
        // B with two identical columns: rank 2 update stored as rank 3.
        let col = LowRankTesting.random(20, 1, &rng)
        let other = LowRankTesting.random(20, 1, &rng)
        var b = Matrix(zeros: 20, 3)
        for i in 0..<20 { b[i, 0] = col[i, 0]; b[i, 1] = col[i, 0]; b[i, 2] = other[i, 0] }
        let a = LowRankTesting.random(3, 15, &rng)
        let deficient = try LowRankUpdate(b: b, a: a, scale: 2)
        let s = try LowRank.singularValues(of: deficient)
        let dense = try DenseReference.singularValues(of: deficient)
        #expect(s.count == 3)
        #expect(abs(s[0] - dense[0]) < 1e-10 * dense[0] && abs(s[1] - dense[1]) < 1e-10 * dense[0])
        #expect(s[2] < 1e-12 * s[0])

        let zero = try LowRankUpdate(b: Matrix(zeros: 20, 4), a: LowRankTesting.random(4, 15, &rng))
        let zs = try LowRank.singularValues(of: zero)
        #expect(zs == [0, 0, 0, 0])
        #expect(LowRank.frobeniusNorm(of: zero) == 0)
        #expect(try LowRank.cosine(zero, deficient) == 0)
        let t = try LowRank.truncatedWeightedSum([zero, zero], weights: [1, 2], rank: 3)
        #expect(t.update.b.elements.allSatisfy { $0 == 0 })
        #expect(t.update.a.elements.allSatisfy { $0.isFinite })
        #expect(t.residualFrobeniusNorm == 0)
        #expect(t.singularValues.allSatisfy { $0 == 0 })
    }

    @Test(arguments: shapes)
    func normsAndInnerProductsMatchTheDensePath(out: Int, inn: Int, rank: Int) throws {
        var rng = SeededGenerator(seed: UInt64(7 + out + inn * 3 + rank * 11))
        let x = LowRankTesting.update(out: out, in: inn, rank: rank, scale: 0.5, &rng)
        let y = LowRankTesting.update(out: out, in: inn, rank: max(1, rank - 2), scale: 3, &rng)
        let nx = DenseReference.frobeniusNorm(of: x)
        #expect(abs(LowRank.frobeniusNorm(of: x) - nx) <= 1e-12 * nx)
        let inner = try LowRank.innerProduct(x, y)
        let denseInner = try DenseReference.innerProduct(x, y)
        let bound = nx * DenseReference.frobeniusNorm(of: y)
        #expect(abs(inner - denseInner) <= 1e-12 * bound)
        #expect(abs(try LowRank.cosine(x, y) - denseInner / bound) <= 1e-12)
        #expect(abs(try LowRank.cosine(x, x) - 1) <= 1e-12)
        #expect(abs(try LowRank.cosine(x, x.scaled(by: -2)) + 1) <= 1e-12)
        let d = try LowRank.distance(x, y)
        let denseD = LowRankTesting.relativeDifference(DenseReference.deltaW(x), DenseReference.deltaW(y))
            * DenseReference.frobeniusNorm(of: y)
        #expect(abs(d - denseD) <= 1e-10 * max(denseD, 1e-300))
        #expect(try LowRank.distance(x, x) <= 1e-12 * nx)
    }

    @Test func nonFiniteFactorsAreAnErrorNotNaN() throws {
        var rng = SeededGenerator(seed: 10)
        var a = LowRankTesting.random(3, 20, &rng)
        a[1, 7] = .nan
        let u = try LowRankUpdate(b: LowRankTesting.random(30, 3, &rng), a: a)
        do {
            _ = try LowRank.singularValues(of: u)
            Issue.record("expected an error")
        } catch let error as LinearAlgebraError {
            #expect(error.code == .nonFinite)
        }
        #expect(throws: LinearAlgebraError.self) { try LowRank.truncatedWeightedSum([u], weights: [1], rank: 2) }
    }

    @Test func shapeMismatchIsAnError() throws {
        var rng = SeededGenerator(seed: 9)
        let x = LowRankTesting.update(out: 4, in: 5, rank: 2, &rng)
        let y = LowRankTesting.update(out: 5, in: 4, rank: 2, &rng)
        #expect(throws: LinearAlgebraError.self) { try LowRank.innerProduct(x, y) }
        #expect(throws: LinearAlgebraError.self) { try LowRank.truncatedWeightedSum([x, y], weights: [1, 1], rank: 2) }
        #expect(throws: LinearAlgebraError.self) { try LowRank.truncatedWeightedSum([x], weights: [1, 1], rank: 2) }
        #expect(throws: LinearAlgebraError.self) { try LowRank.truncatedWeightedSum([], weights: [], rank: 2) }
        #expect(throws: LinearAlgebraError.self) { try LowRank.truncatedWeightedSum([x], weights: [.nan], rank: 2) }
        #expect(throws: LinearAlgebraError.self) { try LowRank.truncatedWeightedSum([x], weights: [1], rank: -1) }
        #expect(throws: LinearAlgebraError.self) { try LowRankUpdate(b: Matrix(zeros: 3, 2), a: Matrix(zeros: 3, 4)) }
    }

    /// (out, in, ranks, k)
    static let sums: [(Int, Int, [Int], Int)] = [
        (30, 25, [3, 4, 2], 4), (25, 30, [5, 5], 3), (10, 8, [6, 6], 5), (20, 20, [2, 2], 6), (6, 40, [4, 4, 4], 2),
    ]

    @Test(arguments: sums)
    func truncatedWeightedSumMatchesDenseTruncatedSVD(out: Int, inn: Int, ranks: [Int], k: Int) throws {
        var rng = SeededGenerator(seed: UInt64(out * 7 + inn + k))
        let updates = ranks.enumerated().map { i, r in
            LowRankTesting.update(out: out, in: inn, rank: r, scale: Double(i + 1) * 0.75, &rng)
        }
        let weights = (0..<ranks.count).map { i in i % 2 == 0 ? 0.6 : -1.3 }
        let factored = try LowRank.truncatedWeightedSum(updates, weights: weights, rank: k)
        let denseSum = try DenseReference.weightedSum(updates, weights: weights)
        let dense = try DenseReference.truncatedSVD(denseSum, rank: k)
        let top = dense.singularValues[0]
        // Singular values: every one the factored path sees matches, the rest of the dense ones are zero.
        for (i, s) in factored.singularValues.enumerated() { #expect(abs(s - dense.singularValues[i]) <= 1e-10 * top) }
        for s in dense.singularValues.dropFirst(factored.singularValues.count) { #expect(s <= 1e-10 * top) }
        #expect(abs(factored.residualFrobeniusNorm - dense.residualFrobeniusNorm) <= 1e-9 * top)
        // The rank-k approximations agree (the spectra of random sums have gaps).
        let approx = DenseReference.deltaW(factored.update)
        #expect(LowRankTesting.relativeDifference(approx, DenseReference.deltaW(dense.update)) < 1e-9)
        // And the residual really is the distance to the sum.
        let actual = LowRankTesting.relativeDifference(approx, denseSum) * denseSum.frobeniusNormSquared.squareRoot()
        #expect(abs(actual - factored.residualFrobeniusNorm) <= 1e-9 * top)
        #expect(factored.update.rank == k && factored.update.scale == 1)
        // A' has orthonormal rows on the kept directions.
        let kept = min(k, factored.singularValues.count)
        let gram = factored.update.a.multiplied(by: factored.update.a, transposeOther: true)
        for i in 0..<kept { #expect(abs(gram[i, i] - 1) < 1e-10) }
    }

    @Test func truncationAtFullRankIsExactAndPadsToTheRequestedRank() throws {
        var rng = SeededGenerator(seed: 21)
        let x = LowRankTesting.update(out: 9, in: 7, rank: 2, &rng)
        let y = LowRankTesting.update(out: 9, in: 7, rank: 3, &rng)
        let t = try LowRank.truncatedWeightedSum([x, y], weights: [1, 1], rank: 8)
        #expect(t.update.rank == 8)
        #expect(t.residualFrobeniusNorm == 0)
        let exact = try DenseReference.weightedSum([x, y], weights: [1, 1])
        #expect(LowRankTesting.relativeDifference(DenseReference.deltaW(t.update), exact) < 1e-12)
        // Padding columns/rows beyond the 5 directions are zero.
        for i in 0..<9 { for j in 5..<8 { #expect(t.update.b[i, j] == 0) } }
    }

    @Test func concatenationIsTheExactWeightedSum() throws {
        var rng = SeededGenerator(seed: 33)
        let x = LowRankTesting.update(out: 11, in: 13, rank: 3, scale: 2, &rng)
        let y = LowRankTesting.update(out: 11, in: 13, rank: 4, scale: 0.5, &rng)
        let cat = try LowRank.concatenatedWeightedSum([x, y], weights: [0.3, -1.1])
        #expect(cat.rank == 7 && cat.scale == 1)
        let dense = try DenseReference.weightedSum([x, y], weights: [0.3, -1.1])
        #expect(LowRankTesting.relativeDifference(DenseReference.deltaW(cat), dense) < 1e-14)
    }
}

@Suite struct LowRankTriangularFactorTests {
    /// Both ways of getting R (CholeskyQR and Householder) satisfy RᵀR = XᵀX; an ill-conditioned factor
    /// must take the Householder path and still give the dense singular values.
    @Test func fastAndExactTriangularFactorsAgree() throws {
        var rng = SeededGenerator(seed: 19)
        let x = LowRankTesting.random(200, 6, &rng)
        let fast = try LowRank.columnTriangularFactor(x)
        let exact = try LAPACK.triangularFactor(x)
        let gram = x.multiplied(by: x, transposeSelf: true)
        #expect(LowRankTesting.maxAbsDifference(fast.multiplied(by: fast, transposeSelf: true), gram) < 1e-12 * 200)
        #expect(LowRankTesting.maxAbsDifference(exact.multiplied(by: exact, transposeSelf: true), gram) < 1e-12 * 200)
    }

    @Test func illConditionedFactorsKeepFullAccuracy() throws {
        var rng = SeededGenerator(seed: 23)
        // B's columns span directions scaled by 1, 1e-4 and 1e-7: κ(B) ≈ 1e7, beyond the Cholesky limit.
        var b = LowRankTesting.random(60, 3, &rng)
        for i in 0..<60 { b[i, 1] *= 1e-4; b[i, 2] *= 1e-7 }
        let a = LowRankTesting.random(3, 50, &rng)
        let u = try LowRankUpdate(b: b, a: a, scale: 1)
        let s = try LowRank.singularValues(of: u)
        let dense = try DenseReference.singularValues(of: u)
        for i in 0..<3 { #expect(abs(s[i] - dense[i]) <= 1e-6 * dense[i]) }
    }
}
