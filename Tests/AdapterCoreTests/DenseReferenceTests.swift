import Testing
@testable import AdapterCore

@Suite struct DenseReferenceTests {
    @Test func deltaWIsScaleTimesBA() throws {
        let b = Matrix(rows: 2, cols: 1, elements: [1, 2])
        let a = Matrix(rows: 1, cols: 3, elements: [3, 0, -1])
        let u = try LowRankUpdate(b: b, a: a, scale: 0.5)
        #expect(DenseReference.deltaW(u).elements == [1.5, 0, -0.5, 3, 0, -1])
        let sum = try DenseReference.weightedSum([u, u], weights: [1, -3])
        #expect(sum.elements == [-3, 0, 1, -6, 0, 2])
        // Rank one: the only non-zero singular value is 0.5 · ‖b‖ · ‖a‖ = 0.5 · √5 · √10.
        let s = try DenseReference.singularValues(of: u)
        #expect(abs(s[0] - 0.5 * (50.0).squareRoot()) < 1e-12 && s[1] < 1e-12)
        #expect(abs(DenseReference.frobeniusNorm(of: u) - s[0]) < 1e-12)
        #expect(try DenseReference.innerProduct(u, u) == 1.5 * 1.5 + 0.25 + 9 + 1)
    }

    @Test func truncatedSVDOfADiagonalDropsTheSmallestValues() throws {
        let m = Matrix(rows: 3, cols: 3, elements: [0, 0, 2, 0, 5, 0, 1, 0, 0])
        let t = try DenseReference.truncatedSVD(m, rank: 1)
        #expect(abs(t.singularValues[0] - 5) < 1e-14)
        #expect(abs(t.residualFrobeniusNorm - (5.0).squareRoot()) < 1e-14)
        let approx = DenseReference.deltaW(t.update)
        #expect(abs(abs(approx[1, 1]) - 5) < 1e-14)
        #expect(abs(t.relativeResidual - (5.0 / 30.0).squareRoot()) < 1e-14)
        #expect(throws: LinearAlgebraError.self) { try DenseReference.truncatedSVD(m, rank: -2) }
    }
}
