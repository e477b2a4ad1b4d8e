import COpenBLAS

/// A dense row-major matrix of `Double`, the unit of all low-rank math in adapterd.
///
/// Adapter factors are small (r × d or d × r), so the math on them runs in double precision whatever
/// their dtype on disk; this keeps singular values accurate to well below the 1e-4 relative goal. A
/// loaded adapter keeps its factors in the file's dtype (`FactorMatrix`) and decodes each into a
/// `Matrix` where it is read.
public struct Matrix: Sendable, Equatable {
    public let rows: Int
    public let cols: Int
    /// Row-major storage: element (i, j) is `elements[i * cols + j]`.
    public var elements: [Double]

    public init(rows: Int, cols: Int, elements: [Double]) {
        precondition(rows >= 0 && cols >= 0 && elements.count == rows * cols, "Matrix shape/count mismatch")
        self.rows = rows
        self.cols = cols
        self.elements = elements
    }

    public init(zeros rows: Int, _ cols: Int) {
        self.init(rows: rows, cols: cols, elements: [Double](repeating: 0, count: rows * cols))
    }

    public static func identity(_ n: Int) -> Matrix {
        var m = Matrix(zeros: n, n)
        for i in 0..<n { m.elements[i * n + i] = 1 }
        return m
    }

    public subscript(row: Int, col: Int) -> Double {
        get { elements[row * cols + col] }
        set { elements[row * cols + col] = newValue }
    }

    public var transposed: Matrix {
        var t = Matrix(zeros: cols, rows)
        elements.withUnsafeBufferPointer { src in
            t.elements.withUnsafeMutableBufferPointer { dst in
                for i in 0..<rows {
                    for j in 0..<cols { dst[j * rows + i] = src[i * cols + j] }
                }
            }
        }
        return t
    }

    /// Squared Frobenius norm.
    public var frobeniusNormSquared: Double {
        elements.withUnsafeBufferPointer { p in
            guard let base = p.baseAddress, !p.isEmpty else { return 0 }
            let n = cblas_dnrm2(Int32(p.count), base, 1)
            return n * n
        }
    }

    public func scaled(_ s: Double) -> Matrix {
        Matrix(rows: rows, cols: cols, elements: elements.map { $0 * s })
    }

    /// `op(self) · op(other)` through BLAS dgemm, with optional transposes and a scalar factor.
    public func multiplied(
        by other: Matrix, transposeSelf: Bool = false, transposeOther: Bool = false, alpha: Double = 1
    ) -> Matrix {
        let m = transposeSelf ? cols : rows
        let k = transposeSelf ? rows : cols
        let k2 = transposeOther ? other.cols : other.rows
        let n = transposeOther ? other.rows : other.cols
        precondition(k == k2, "Matrix multiply: inner dimensions \(k) and \(k2) differ")
        var out = Matrix(zeros: m, n)
        if m == 0 || n == 0 || k == 0 { return out }
        elements.withUnsafeBufferPointer { a in
            other.elements.withUnsafeBufferPointer { b in
                out.elements.withUnsafeMutableBufferPointer { c in
                    cblas_dgemm(
                        CblasRowMajor,
                        transposeSelf ? CblasTrans : CblasNoTrans,
                        transposeOther ? CblasTrans : CblasNoTrans,
                        Int32(m), Int32(n), Int32(k), alpha,
                        a.baseAddress, Int32(cols),
                        b.baseAddress, Int32(other.cols),
                        0, c.baseAddress, Int32(n))
                }
            }
        }
        return out
    }

    public static func * (lhs: Matrix, rhs: Matrix) -> Matrix { lhs.multiplied(by: rhs) }
}
