import Testing
@testable import AdapterCore

@Suite struct MatrixTests {
    @Test func multiplyMatchesHandComputedProduct() {
        let a = Matrix(rows: 2, cols: 3, elements: [1, 2, 3, 4, 5, 6])
        let b = Matrix(rows: 3, cols: 2, elements: [7, 8, 9, 10, 11, 12])
        #expect((a * b).elements == [58, 64, 139, 154])
        #expect(a.multiplied(by: a, transposeOther: true).elements == [14, 32, 32, 77])
        #expect(a.multiplied(by: a, transposeSelf: true).rows == 3)
    }

    @Test func transposeAndNorm() {
        let a = Matrix(rows: 2, cols: 3, elements: [1, 2, 3, 4, 5, 6])
        #expect(a.transposed.elements == [1, 4, 2, 5, 3, 6])
        #expect(abs(a.frobeniusNormSquared - 91) < 1e-12)
    }
}
