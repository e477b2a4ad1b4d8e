import Testing
@testable import AdapterCore

/// Random matrices and comparisons shared by the low-rank, signature and merge tests.
enum LowRankTesting {
    static func random(_ rows: Int, _ cols: Int, _ rng: inout SeededGenerator) -> Matrix {
        Matrix(rows: rows, cols: cols, elements: (0..<(rows * cols)).map { _ in rng.nextUnitDouble() * 2 - 1 })
    }

    static func update(out: Int, in inn: Int, rank: Int, scale: Double = 1, _ rng: inout SeededGenerator) -> LowRankUpdate {
        LowRankUpdate(unchecked: random(out, rank, &rng), random(rank, inn, &rng), scale)
    }

    static func maxAbsDifference(_ x: Matrix, _ y: Matrix) -> Double {
        zip(x.elements, y.elements).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    static func relativeDifference(_ x: Matrix, _ y: Matrix) -> Double {
        var diff = 0.0
        for (a, b) in zip(x.elements, y.elements) { diff += (a - b) * (a - b) }
        let norm = y.frobeniusNormSquared.squareRoot()
        return norm > 0 ? diff.squareRoot() / norm : diff.squareRoot()
    }

    static func isOrthonormalColumns(_ q: Matrix, tolerance: Double = 1e-12) -> Bool {
        maxAbsDifference(q.multiplied(by: q, transposeSelf: true), Matrix.identity(q.cols)) < tolerance
    }
}

@Suite struct LAPACKTests {
    @Test(arguments: [(7, 4), (4, 7), (5, 5), (1, 6), (6, 1)])
    func thinQRReconstructsTheMatrix(rows: Int, cols: Int) throws {
        var rng = SeededGenerator(seed: UInt64(rows * 31 + cols))
        let m = LowRankTesting.random(rows, cols, &rng)
        let (q, r) = try LAPACK.thinQR(m)
        let p = min(rows, cols)
        #expect(q.rows == rows && q.cols == p)
        #expect(r.rows == p && r.cols == cols)
        #expect(LowRankTesting.maxAbsDifference(q * r, m) < 1e-12)
        #expect(LowRankTesting.isOrthonormalColumns(q))
        for i in 0..<p { for j in 0..<min(i, cols) { #expect(r[i, j] == 0) } }
        // R alone matches the R of the full factorisation.
        #expect(try LAPACK.triangularFactor(m) == r)
    }

    @Test(arguments: [(3, 9), (9, 3), (4, 4)])
    func thinQROfTransposeReconstructsTheTranspose(rows: Int, cols: Int) throws {
        var rng = SeededGenerator(seed: UInt64(rows * 17 + cols))
        let m = LowRankTesting.random(rows, cols, &rng)
        let (qT, r) = try LAPACK.thinQR(ofTransposeOf: m)
        let p = min(rows, cols)
        #expect(qT.rows == p && qT.cols == cols)
        #expect(r.rows == p && r.cols == rows)
        #expect(LowRankTesting.maxAbsDifference(qT.multiplied(by: r, transposeSelf: true), m.transposed) < 1e-12)
        #expect(LowRankTesting.isOrthonormalColumns(qT.transposed))
        #expect(try LAPACK.triangularFactor(ofTransposeOf: m) == r)
    }

    /// Narrow Grams come from dgemm (OpenBLAS's small-matrix kernels), wide ones from dsyrk: both are
    /// the product, and exactly symmetric.
    @Test(arguments: [(40, 7), (300, 32), (100, 33), (50, 64)])
    func gramsAreTheProductAndSymmetric(_ rows: Int, _ cols: Int) {
        var rng = SeededGenerator(seed: UInt64(rows * cols))
        let x = LowRankTesting.random(rows, cols, &rng)
        for (gram, expected) in [(LAPACK.gramOfColumns(x), x.multiplied(by: x, transposeSelf: true)),
                                 (LAPACK.gramOfRows(x.transposed), x.multiplied(by: x, transposeSelf: true))] {
            #expect(LowRankTesting.maxAbsDifference(gram, expected) < 1e-13 * Double(rows))
            #expect(gram == gram.transposed)
        }
    }

    @Test func eigenvaluesOfASymmetricMatrixAreTheSquaredSingularValuesOfItsFactor() throws {
        var rng = SeededGenerator(seed: 41)
        let x = LowRankTesting.random(40, 7, &rng)
        let gram = LAPACK.gramOfColumns(x)
        let eigen = try LAPACK.eigenvalues(ofSymmetric: gram)
        let singular = try LAPACK.singularValues(x)   // descending
        #expect(eigen.count == 7)
        for (i, s) in singular.reversed().enumerated() { #expect(abs(eigen[i] - s * s) <= 1e-12 * singular[0] * singular[0]) }
        // [[2, 1], [1, 2]] has eigenvalues 1 and 3, ascending; a non-square matrix is an error.
        let two = try LAPACK.eigenvalues(ofSymmetric: Matrix(rows: 2, cols: 2, elements: [2, 1, 1, 2]))
        #expect(abs(two[0] - 1) < 1e-14 && abs(two[1] - 3) < 1e-14)
        #expect(throws: LinearAlgebraError.self) { try LAPACK.eigenvalues(ofSymmetric: Matrix(zeros: 2, 3)) }
        #expect(try LAPACK.eigenvalues(ofSymmetric: Matrix(zeros: 0, 0)).isEmpty)
    }

    @Test func singularValuesOfHandComputableMatrices() throws {
        // A permuted, signed diagonal has the absolute diagonal as singular values.
        let d = Matrix(rows: 3, cols: 3, elements: [0, -2, 0, 0, 0, 1, 3, 0, 0])
        let s = try LAPACK.singularValues(d)
        #expect(s.count == 3)
        #expect(abs(s[0] - 3) < 1e-14 && abs(s[1] - 2) < 1e-14 && abs(s[2] - 1) < 1e-14)
        // [[3, 4]] has the single singular value 5.
        let row = try LAPACK.singularValues(Matrix(rows: 1, cols: 2, elements: [3, 4]))
        #expect(row.count == 1 && abs(row[0] - 5) < 1e-14)
        #expect(try LAPACK.singularValues(Matrix(zeros: 0, 4)).isEmpty)
    }

    @Test(arguments: [(6, 4), (4, 6), (5, 5)])
    func svdReconstructsThinAndFull(rows: Int, cols: Int) throws {
        var rng = SeededGenerator(seed: UInt64(rows * 7 + cols))
        let m = LowRankTesting.random(rows, cols, &rng)
        let p = min(rows, cols)
        for full in [false, true] {
            let svd = try LAPACK.svd(m, full: full)
            #expect(svd.u.rows == rows && svd.u.cols == (full ? rows : p))
            #expect(svd.vt.cols == cols && svd.vt.rows == (full ? cols : p))
            var us = Matrix(zeros: rows, p)
            for i in 0..<rows { for j in 0..<p { us[i, j] = svd.u[i, j] * svd.singularValues[j] } }
            var vtp = Matrix(zeros: p, cols)
            for i in 0..<p { for j in 0..<cols { vtp[i, j] = svd.vt[i, j] } }
            #expect(LowRankTesting.maxAbsDifference(us * vtp, m) < 1e-12)
            #expect(LowRankTesting.isOrthonormalColumns(svd.u))
            #expect(LowRankTesting.isOrthonormalColumns(svd.vt.transposed))
            #expect(zip(svd.singularValues, svd.singularValues.dropFirst()).allSatisfy { $0 >= $1 })
            let valuesOnly = try LAPACK.singularValues(m)
            #expect(zip(valuesOnly, svd.singularValues).allSatisfy { abs($0 - $1) < 1e-12 })
        }
    }

    @Test func nonFiniteInputIsAnErrorNotACrash() throws {
        let bad = Matrix(rows: 2, cols: 2, elements: [1, .nan, 0, 1])
        #expect(throws: LinearAlgebraError.self) { try LAPACK.singularValues(bad) }
        #expect(throws: LinearAlgebraError.self) { try LAPACK.svd(bad) }
        #expect(throws: LinearAlgebraError.self) { try LAPACK.thinQR(bad) }
        do {
            _ = try LAPACK.thinQR(ofTransposeOf: Matrix(rows: 1, cols: 2, elements: [.infinity, 0]))
            Issue.record("expected an error")
        } catch let error as LinearAlgebraError {
            #expect(error.code == .nonFinite)
            #expect(error.description.contains("NaN or infinity"))
        }
    }

    @Test func emptyMatricesGiveEmptyFactors() throws {
        let (q, r) = try LAPACK.thinQR(Matrix(zeros: 3, 0))
        #expect(q.rows == 3 && q.cols == 0 && r.rows == 0 && r.cols == 0)
        let svd = try LAPACK.svd(Matrix(zeros: 0, 2))
        #expect(svd.singularValues.isEmpty && svd.vt.cols == 2)
    }
}

@Suite struct LAPACKGramAndCholeskyTests {
    @Test func gramMatricesMatchProducts() {
        var rng = SeededGenerator(seed: 12)
        let m = LowRankTesting.random(9, 4, &rng)
        #expect(LowRankTesting.maxAbsDifference(LAPACK.gramOfColumns(m), m.multiplied(by: m, transposeSelf: true)) < 1e-13)
        #expect(LowRankTesting.maxAbsDifference(LAPACK.gramOfRows(m), m.multiplied(by: m, transposeOther: true)) < 1e-13)
    }

    /// dtrmm reads only r's upper triangle: what lies below it must not count.
    @Test(arguments: [(1, 3), (6, 2), (5, 5), (7, 9)])
    func upperTriangularProductsMatchGeneralProducts(n: Int, k: Int) {
        var rng = SeededGenerator(seed: UInt64(10 * n + k))
        var r = LowRankTesting.random(n, n, &rng)
        let x = LowRankTesting.random(n, k, &rng)
        var upper = r
        for i in 0..<n { for j in 0..<i { upper.elements[i * n + j] = 0; r.elements[i * n + j] = 99 } }
        let product = LAPACK.multiplyUpperTriangular(r, x)
        #expect(LowRankTesting.maxAbsDifference(product, upper.multiplied(by: x)) < 1e-13)
        #expect(product.rows == n && product.cols == k && product.frobeniusNormSquared > 0)
    }

    @Test func choleskyOfAHandComputableMatrix() throws {
        let r = try #require(try LAPACK.cholesky(Matrix(rows: 2, cols: 2, elements: [4, 2, 2, 3])))
        #expect(LowRankTesting.maxAbsDifference(r, Matrix(rows: 2, cols: 2, elements: [2, 1, 0, (2.0).squareRoot()])) < 1e-15)
        #expect(try LAPACK.cholesky(Matrix(rows: 2, cols: 2, elements: [1, 2, 2, 1])) == nil)
        #expect(throws: LinearAlgebraError.self) { try LAPACK.cholesky(Matrix(zeros: 2, 3)) }
    }
}
