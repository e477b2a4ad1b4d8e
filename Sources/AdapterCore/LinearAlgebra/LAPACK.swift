import COpenBLAS

/// Thin, checked wrappers over the LAPACKE routines adapterd needs: QR (dgelqf/dgeqrf + dorglq/dorgqr)
/// and SVD (dgesdd, falling back to dgesvd if it does not converge).
///
/// Every routine takes and returns row-major `Matrix` values. Internally a row-major m×n buffer is
/// handed to LAPACK as the column-major n×m matrix mᵀ (the same bytes), so no transposed copies are made:
/// the QR of m is computed as the LQ of mᵀ, and the SVD of m as the SVD of mᵀ with U and V swapped.
/// A non-zero LAPACK `info`, a non-finite input or a dimension beyond LAPACK's integer range throws a
/// `LinearAlgebraError`; nothing here traps on input data.
public enum LAPACK {
    /// Thin QR: m (rows×cols) = Q · R with Q rows×p (orthonormal columns) and R p×cols upper
    /// trapezoidal, p = min(rows, cols).
    public static func thinQR(_ m: Matrix) throws -> (q: Matrix, r: Matrix) {
        let (buffer, tau, k) = try lqOfTransposeView(m)
        let r = upperRowsR(buffer: buffer, rows: m.rows, cols: m.cols, k: k)
        guard k > 0 else { return (Matrix(zeros: m.rows, 0), r) }
        var work = buffer
        var tauCopy = tau
        let info = LAPACKE_dorglq(
            LAPACK_COL_MAJOR, try int(k), try int(m.rows), try int(k), &work, try int(m.cols), &tauCopy)
        guard info == 0 else { throw LinearAlgebraError.lapack("dorglq", info: info) }
        var q = Matrix(zeros: m.rows, k)
        for i in 0..<m.rows {
            for j in 0..<k { q.elements[i * k + j] = work[i * m.cols + j] }
        }
        return (q, r)
    }

    /// The R factor of the thin QR of m (p×cols, p = min(rows, cols)), without forming Q.
    public static func triangularFactor(_ m: Matrix) throws -> Matrix {
        let (buffer, _, k) = try lqOfTransposeView(m)
        return upperRowsR(buffer: buffer, rows: m.rows, cols: m.cols, k: k)
    }

    /// Thin QR of the transpose: mᵀ (cols×rows) = Q · R, returned as Qᵀ (p×cols, orthonormal rows) and
    /// R (p×rows), p = min(rows, cols). Used for Aᵀ of a LoRA factor A without transposing A.
    public static func thinQR(ofTransposeOf m: Matrix) throws -> (qTransposed: Matrix, r: Matrix) {
        let (buffer, tau, k) = try qrOfTransposeView(m)
        let r = transposedR(buffer: buffer, rows: m.rows, cols: m.cols, k: k)
        guard k > 0 else { return (Matrix(zeros: 0, m.cols), r) }
        var work = buffer
        var tauCopy = tau
        let info = LAPACKE_dorgqr(
            LAPACK_COL_MAJOR, try int(m.cols), try int(k), try int(k), &work, try int(m.cols), &tauCopy)
        guard info == 0 else { throw LinearAlgebraError.lapack("dorgqr", info: info) }
        return (Matrix(rows: k, cols: m.cols, elements: Array(work[0..<(k * m.cols)])), r)
    }

    /// The R factor of the thin QR of mᵀ (p×rows, p = min(rows, cols)), without forming Q.
    public static func triangularFactor(ofTransposeOf m: Matrix) throws -> Matrix {
        let (buffer, _, k) = try qrOfTransposeView(m)
        return transposedR(buffer: buffer, rows: m.rows, cols: m.cols, k: k)
    }

    /// Singular values of m in descending order (min(rows, cols) of them), by dgesdd without vectors.
    public static func singularValues(_ m: Matrix) throws -> [Double] {
        let p = min(m.rows, m.cols)
        guard p > 0 else { return [] }
        try requireFinite(m)
        // Column-major view: X = mᵀ is cols×rows with leading dimension cols; same singular values.
        let xm = try int(m.cols), xn = try int(m.rows)
        var a = m.elements
        var s = [Double](repeating: 0, count: p)
        var u = [Double](repeating: 0, count: 1)
        var vt = [Double](repeating: 0, count: 1)
        let info = LAPACKE_dgesdd(
            LAPACK_COL_MAJOR, job("N"), xm, xn, &a, xm, &s, &u, xm, &vt, max(1, xn))
        if info > 0 {
            return try gesvdFallback(m, vectors: false).singularValues
        }
        guard info == 0 else { throw LinearAlgebraError.lapack("dgesdd", info: info) }
        return s
    }

    /// SVD m = U · diag(S) · Vᵀ by dgesdd. Thin by default (U rows×p, Vᵀ p×cols); `full` gives square
    /// U (rows×rows) and Vᵀ (cols×cols).
    public static func svd(_ m: Matrix, full: Bool = false) throws -> SingularValueDecomposition {
        let rows = m.rows, cols = m.cols, p = min(rows, cols)
        if p == 0 {
            return SingularValueDecomposition(
                u: full ? Matrix.identity(rows) : Matrix(zeros: rows, 0), singularValues: [],
                vt: full ? Matrix.identity(cols) : Matrix(zeros: 0, cols))
        }
        try requireFinite(m)
        // X = mᵀ (cols×rows, col-major, ld cols) = Ux · S · Vxᵀ, so m = Vx · S · Uxᵀ.
        // Ux (cols×ux, col-major, ld cols) read row-major is Uxᵀ = Vᵀ of m; Vxᵀ (vx×rows, ld vx) read
        // row-major is Vx = U of m.
        let ux = full ? cols : p
        let vx = full ? rows : p
        var a = m.elements
        var s = [Double](repeating: 0, count: p)
        var uBuffer = [Double](repeating: 0, count: cols * ux)
        var vtBuffer = [Double](repeating: 0, count: vx * rows)
        let info = LAPACKE_dgesdd(
            LAPACK_COL_MAJOR, job(full ? "A" : "S"), try int(cols), try int(rows), &a, try int(cols), &s,
            &uBuffer, try int(cols), &vtBuffer, try int(vx))
        if info > 0 { return try gesvdFallback(m, vectors: true, full: full) }
        guard info == 0 else { throw LinearAlgebraError.lapack("dgesdd", info: info) }
        return SingularValueDecomposition(
            u: Matrix(rows: rows, cols: vx, elements: vtBuffer), singularValues: s,
            vt: Matrix(rows: ux, cols: cols, elements: uBuffer))
    }

    // MARK: - Internals

    /// dgesvd (QR iteration) for the rare matrices on which dgesdd's divide and conquer does not converge.
    private static func gesvdFallback(_ m: Matrix, vectors: Bool, full: Bool = false) throws
        -> SingularValueDecomposition
    {
        let rows = m.rows, cols = m.cols, p = min(rows, cols)
        let ux = vectors ? (full ? cols : p) : 1
        let vx = vectors ? (full ? rows : p) : 1
        var a = m.elements
        var s = [Double](repeating: 0, count: p)
        var uBuffer = [Double](repeating: 0, count: vectors ? cols * ux : 1)
        var vtBuffer = [Double](repeating: 0, count: vectors ? vx * rows : 1)
        var superb = [Double](repeating: 0, count: max(1, p - 1))
        let jobU = vectors ? job(full ? "A" : "S") : job("N")
        let info = LAPACKE_dgesvd(
            LAPACK_COL_MAJOR, jobU, jobU, try int(cols), try int(rows), &a, try int(cols), &s,
            &uBuffer, try int(cols), &vtBuffer, try int(max(1, vx)), &superb)
        guard info == 0 else { throw LinearAlgebraError.lapack("dgesvd", info: info) }
        guard vectors else {
            return SingularValueDecomposition(u: Matrix(zeros: rows, 0), singularValues: s, vt: Matrix(zeros: 0, cols))
        }
        return SingularValueDecomposition(
            u: Matrix(rows: rows, cols: vx, elements: vtBuffer), singularValues: s,
            vt: Matrix(rows: ux, cols: cols, elements: uBuffer))
    }

    /// LQ factorisation of the column-major view X = mᵀ (cols×rows): X = L · Q̃, hence m = Q̃ᵀ · Lᵀ.
    private static func lqOfTransposeView(_ m: Matrix) throws -> (buffer: [Double], tau: [Double], k: Int) {
        let k = min(m.rows, m.cols)
        guard k > 0 else { return (m.elements, [], 0) }
        try requireFinite(m)
        var buffer = m.elements
        var tau = [Double](repeating: 0, count: k)
        let info = LAPACKE_dgelqf(
            LAPACK_COL_MAJOR, try int(m.cols), try int(m.rows), &buffer, try int(m.cols), &tau)
        guard info == 0 else { throw LinearAlgebraError.lapack("dgelqf", info: info) }
        return (buffer, tau, k)
    }

    /// QR factorisation of the column-major view X = mᵀ (cols×rows): X = Q · R.
    private static func qrOfTransposeView(_ m: Matrix) throws -> (buffer: [Double], tau: [Double], k: Int) {
        let k = min(m.rows, m.cols)
        guard k > 0 else { return (m.elements, [], 0) }
        try requireFinite(m)
        var buffer = m.elements
        var tau = [Double](repeating: 0, count: k)
        let info = LAPACKE_dgeqrf(
            LAPACK_COL_MAJOR, try int(m.cols), try int(m.rows), &buffer, try int(m.cols), &tau)
        guard info == 0 else { throw LinearAlgebraError.lapack("dgeqrf", info: info) }
        return (buffer, tau, k)
    }

    /// R = Lᵀ from an LQ of the column-major view: the first k rows of the row-major buffer, with the
    /// entries below the diagonal (Householder vectors) cleared.
    private static func upperRowsR(buffer: [Double], rows: Int, cols: Int, k: Int) -> Matrix {
        var r = Matrix(zeros: k, cols)
        for i in 0..<k {
            for j in i..<cols { r.elements[i * cols + j] = buffer[i * cols + j] }
        }
        return r
    }

    /// R (k×rows) of a QR of the column-major view: element (i, j) sits at buffer[j·cols + i], i ≤ j.
    private static func transposedR(buffer: [Double], rows: Int, cols: Int, k: Int) -> Matrix {
        var r = Matrix(zeros: k, rows)
        for i in 0..<k {
            for j in i..<rows { r.elements[i * rows + j] = buffer[j * cols + i] }
        }
        return r
    }

    static func requireFinite(_ m: Matrix) throws {
        let finite = m.elements.withUnsafeBufferPointer { p in
            var ok = true
            for x in p where !x.isFinite { ok = false; break }
            return ok
        }
        guard finite else {
            throw LinearAlgebraError(.nonFinite, "a \(m.rows)×\(m.cols) matrix contains NaN or infinity")
        }
    }

    private static func int(_ n: Int) throws -> COpenBLAS_lapack_int {
        guard let v = COpenBLAS_lapack_int(exactly: n) else {
            throw LinearAlgebraError(.invalidArgument, "dimension \(n) exceeds LAPACK's integer range")
        }
        return v
    }

    private static func job(_ c: Unicode.Scalar) -> CChar {
        CChar(truncatingIfNeeded: c.value)
    }
}
