import COpenBLAS

/// Thin, checked wrappers over the LAPACKE routines adapterd needs: QR (dgeqrf + dorgqr)
/// and SVD (dgesdd, falling back to dgesvd if it does not converge).
///
/// Every routine takes and returns row-major `Matrix` values. Where it helps, a row-major m×n buffer is
/// handed to LAPACK as the column-major n×m matrix mᵀ (the same bytes): the QR of Aᵀ for a LoRA factor A
/// and every SVD (of mᵀ, with U and V swapped) need no copy; the QR of a tall B uses a column-major copy
/// so that LAPACK works on contiguous columns.
/// A non-zero LAPACK `info`, a non-finite input or a dimension beyond LAPACK's integer range throws a
/// `LinearAlgebraError`; nothing here traps on input data.
public enum LAPACK {
    /// Thin QR: m (rows×cols) = Q · R with Q rows×p (orthonormal columns) and R p×cols upper
    /// trapezoidal, p = min(rows, cols).
    public static func thinQR(_ m: Matrix) throws -> (q: Matrix, r: Matrix) {
        let (buffer, tau, k) = try qrOfColumnMajorCopy(m)
        let r = upperR(columnMajor: buffer, leadingDimension: m.rows, k: k, cols: m.cols)
        guard k > 0 else { return (Matrix(zeros: m.rows, 0), r) }
        var work = buffer
        var tauCopy = tau
        let info = LAPACKE_dorgqr(
            LAPACK_COL_MAJOR, try int(m.rows), try int(k), try int(k), &work, try int(m.rows), &tauCopy)
        guard info == 0 else { throw LinearAlgebraError.lapack("dorgqr", info: info) }
        // Q is the leading rows×k column-major block; bring it back to row-major.
        return (Matrix(rows: m.rows, cols: k, elements: transposedCopy(work, rows: k, cols: m.rows)), r)
    }

    /// The R factor of the thin QR of m (p×cols, p = min(rows, cols)), without forming Q.
    public static func triangularFactor(_ m: Matrix) throws -> Matrix {
        let (buffer, _, k) = try qrOfColumnMajorCopy(m)
        return upperR(columnMajor: buffer, leadingDimension: m.rows, k: k, cols: m.cols)
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

    /// The Gram matrix of m's columns, mᵀ·m (cols×cols), on m's buffer (no copy; `syrk`).
    public static func gramOfColumns(_ m: Matrix) -> Matrix {
        // Row-major m is the column-major matrix X = mᵀ (cols×rows, ld cols); X·Xᵀ = mᵀm.
        syrk(m, n: m.cols, k: m.rows, transpose: false)
    }

    /// The Gram matrix of m's rows, m·mᵀ (rows×rows), on m's buffer (no copy; `syrk`).
    public static func gramOfRows(_ m: Matrix) -> Matrix {
        // Row-major m is X = mᵀ (cols×rows, ld cols); Xᵀ·X = m·mᵀ.
        syrk(m, n: m.rows, k: m.cols, transpose: true)
    }

    /// Upper-triangular R with Rᵀ·R = g (dpotrf), or nil if g is not numerically positive definite.
    public static func cholesky(_ g: Matrix) throws -> Matrix? {
        guard g.rows == g.cols else {
            throw LinearAlgebraError(.shapeMismatch, "Cholesky needs a square matrix, got \(g.rows)×\(g.cols)")
        }
        let n = g.rows
        guard n > 0 else { return g }
        try requireFinite(g)
        // Column-major upper triangle of the symmetric g (its buffer read column-major is g itself).
        var buffer = g.elements
        let info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, CChar(truncatingIfNeeded: UInt8(ascii: "U")), try int(n), &buffer, try int(n))
        if info > 0 { return nil }
        guard info == 0 else { throw LinearAlgebraError.lapack("dpotrf", info: info) }
        var r = Matrix(zeros: n, n)
        for j in 0..<n {
            for i in 0...j { r.elements[i * n + j] = buffer[i + j * n] }
        }
        return r
    }

    /// The reciprocal of the condition number of an upper-triangular r (row-major, n×n), estimated
    /// in O(n²) by dtrcon (the ∞-norm of r, i.e. the 1-norm of the column-major buffer's lower triangle
    /// rᵀ); 0 for a singular r.
    public static func reciprocalConditionOfUpperTriangular(_ r: Matrix) throws -> Double {
        guard r.rows == r.cols else {
            throw LinearAlgebraError(.shapeMismatch, "a triangular matrix must be square, got \(r.rows)×\(r.cols)")
        }
        guard r.rows > 0 else { return 1 }
        try requireFinite(r)
        var rcond = 0.0
        let info = r.elements.withUnsafeBufferPointer { p in
            LAPACKE_dtrcon(LAPACK_COL_MAJOR, job("O"), job("L"), job("N"), COpenBLAS_lapack_int(r.rows),
                           p.baseAddress, COpenBLAS_lapack_int(r.rows), &rcond)
        }
        guard info == 0 else { throw LinearAlgebraError.lapack("dtrcon", info: info) }
        return rcond
    }

    /// An estimate of the 2-norm condition number σ_max/σ_min of an upper-triangular, non-singular r
    /// (row-major, n×n): the largest eigenvalues of rᵀr and of (rᵀr)⁻¹ by power iteration (dtrmv and dtrsv,
    /// O(n²) a step, from a fixed start), until they change by less than 10⁻³ or after `iterations`
    /// steps. Power iteration approaches both from below, so this is at most the true condition number
    /// and usually within a few per cent of it; dtrcon's 1-norm estimate can exceed it by up to n times.
    public static func twoNormConditionOfUpperTriangular(_ r: Matrix, iterations: Int = 50) throws -> Double {
        guard r.rows == r.cols else {
            throw LinearAlgebraError(.shapeMismatch, "a triangular matrix must be square, got \(r.rows)×\(r.cols)")
        }
        let n = r.rows
        guard n > 0 else { return 1 }
        try requireFinite(r)
        func largestEigenvalue(_ step: (UnsafePointer<Double>, UnsafeMutablePointer<Double>) -> Void) -> Double {
            var x = (0..<n).map { 1 + 0.5 * Double(($0 * 7919) % 97) / 97 }
            var estimate = 0.0
            for _ in 0..<max(1, iterations) {
                let length = x.reduce(0) { $0 + $1 * $1 }.squareRoot()
                guard length > 0, length.isFinite else { return .infinity }
                for i in 0..<n { x[i] /= length }
                var y = x
                r.elements.withUnsafeBufferPointer { rp in y.withUnsafeMutableBufferPointer { step(rp.baseAddress!, $0.baseAddress!) } }
                let next = zip(x, y).reduce(0) { $0 + $1.0 * $1.1 }   // Rayleigh quotient of the unit x
                x = y
                if abs(next - estimate) <= 1e-3 * abs(next) { return next }
                estimate = next
            }
            return estimate
        }
        let n32 = Int32(n)
        let largest = largestEigenvalue { rp, y in   // y ← rᵀ(r y)
            cblas_dtrmv(CblasRowMajor, CblasUpper, CblasNoTrans, CblasNonUnit, n32, rp, n32, y, 1)
            cblas_dtrmv(CblasRowMajor, CblasUpper, CblasTrans, CblasNonUnit, n32, rp, n32, y, 1)
        }
        let inverse = largestEigenvalue { rp, y in   // y ← r⁻¹(r⁻ᵀ y)
            cblas_dtrsv(CblasRowMajor, CblasUpper, CblasTrans, CblasNonUnit, n32, rp, n32, y, 1)
            cblas_dtrsv(CblasRowMajor, CblasUpper, CblasNoTrans, CblasNonUnit, n32, rp, n32, y, 1)
        }
        let condition = (largest * inverse).squareRoot()
        return condition.isFinite ? condition : .infinity
    }

    /// X with r · X = y, for r upper triangular and non-singular (n×n) and y n×k, by dtrsm.
    public static func solveUpperTriangular(_ r: Matrix, _ y: Matrix) -> Matrix {
        upperTriangular(r, y, solving: true)
    }

    /// r · x for r upper triangular (n×n) and x n×k, by dtrmm: half the multiply-adds of a general product.
    public static func multiplyUpperTriangular(_ r: Matrix, _ x: Matrix) -> Matrix {
        upperTriangular(r, x, solving: false)
    }

    /// c += f · x[rows, :] (f: m × r), or with `transposingRows` c += x[rows, :]ᵀ · f (f: r × n), by
    /// dgemm: one member's share of a product with stacked factors, without forming the stack.
    static func addProduct(into c: inout Matrix, _ f: Matrix, _ x: Matrix, rows: Range<Int>, transposingRows: Bool) {
        let r = rows.count
        precondition(rows.upperBound <= x.rows && (transposingRows
            ? f.rows == r && c.rows == x.cols && c.cols == f.cols
            : f.cols == r && c.rows == f.rows && c.cols == x.cols), "addProduct: shapes do not fit")
        guard r > 0, c.rows > 0, c.cols > 0 else { return }
        let (m, n, k, ldf, ldx) = (Int32(c.rows), Int32(c.cols), Int32(r), Int32(f.cols), Int32(x.cols))
        f.elements.withUnsafeBufferPointer { fp in
            x.elements.withUnsafeBufferPointer { xp in
                c.elements.withUnsafeMutableBufferPointer { cp in
                    let slice = xp.baseAddress.map { $0 + rows.lowerBound * x.cols }
                    if transposingRows {
                        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, n, k, 1, slice, ldx,
                                    fp.baseAddress, ldf, 1, cp.baseAddress, n)
                    } else {
                        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1, fp.baseAddress, ldf,
                                    slice, ldx, 1, cp.baseAddress, n)
                    }
                }
            }
        }
    }

    /// r⁻¹·x (dtrsm) or r·x (dtrmm), for r upper triangular, reading only its upper triangle.
    private static func upperTriangular(_ r: Matrix, _ x: Matrix, solving: Bool) -> Matrix {
        precondition(r.rows == r.cols && r.rows == x.rows, "triangular operation: shapes \(r.rows)×\(r.cols) and \(x.rows)×\(x.cols)")
        var result = x
        guard x.rows > 0, x.cols > 0 else { return result }
        let (n, k, ldr) = (Int32(x.rows), Int32(x.cols), Int32(r.cols))
        r.elements.withUnsafeBufferPointer { rp in
            result.elements.withUnsafeMutableBufferPointer { xp in
                let operation = solving ? cblas_dtrsm : cblas_dtrmm
                operation(CblasRowMajor, CblasLeft, CblasUpper, CblasNoTrans, CblasNonUnit, n, k, 1,
                          rp.baseAddress, ldr, xp.baseAddress, k)
            }
        }
        return result
    }

    /// The n×n Gram of the column-major X = mᵀ (Xᵀ·X when `transpose`, else X·Xᵀ), exactly symmetric: by
    /// dsyrk, or for n ≤ 32 by dgemm, whose small-matrix kernels take a 3072 × 16 factor in under half
    /// of dsyrk's time (which packs it as for a large product).
    private static func syrk(_ m: Matrix, n: Int, k: Int, transpose: Bool) -> Matrix {
        var c = Matrix(zeros: n, n)
        guard n > 0, k > 0, let n32 = Int32(exactly: n), let k32 = Int32(exactly: k),
              let ld = Int32(exactly: max(1, m.cols)) else { return c }
        m.elements.withUnsafeBufferPointer { a in
            c.elements.withUnsafeMutableBufferPointer { out in
                if n <= 32 {
                    cblas_dgemm(CblasColMajor, transpose ? CblasTrans : CblasNoTrans, transpose ? CblasNoTrans : CblasTrans,
                                n32, n32, k32, 1, a.baseAddress, ld, a.baseAddress, ld, 0, out.baseAddress, n32)
                } else {
                    cblas_dsyrk(CblasColMajor, CblasUpper, transpose ? CblasTrans : CblasNoTrans,
                                n32, k32, 1, a.baseAddress, ld, 0, out.baseAddress, n32)
                }
            }
        }
        // Column-major upper triangle: element (i, j), i ≤ j, at i + j·n; mirror it to make c symmetric.
        for j in 0..<n {
            for i in 0..<j { c.elements[j + i * n] = c.elements[i + j * n] }
        }
        return c
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

    /// Eigenvalues of a symmetric g in ascending order, without vectors (dsyev: tridiagonal reduction
    /// and the root-free QR of dsterf), each within about n·ε·‖g‖₂ of the exact one.
    public static func eigenvalues(ofSymmetric g: Matrix) throws -> [Double] {
        guard g.rows == g.cols else {
            throw LinearAlgebraError(.shapeMismatch, "eigenvalues need a square matrix, got \(g.rows)×\(g.cols)")
        }
        let n = g.rows
        guard n > 0 else { return [] }
        try requireFinite(g)
        var a = g.elements   // symmetric: row-major and column-major agree
        var w = [Double](repeating: 0, count: n)
        let info = LAPACKE_dsyev(LAPACK_COL_MAJOR, job("N"), job("U"), try int(n), &a, try int(n), &w)
        guard info == 0 else { throw LinearAlgebraError.lapack("dsyev", info: info) }
        return w
    }

    /// The `count` largest eigenvalues of the symmetric matrix g (descending) and their eigenvectors
    /// (the columns of an n×k matrix, k = min(count, n)): tridiagonalisation (dsytrd), the wanted pairs
    /// of the tridiagonal matrix by MRRR (dstemr, range I: bisection for the k values, then their
    /// vectors), and only those k vectors transformed back (dormtr). dsyevr finds the same pairs by
    /// bisection and inverse iteration and measured slower for k ≪ n here; it remains the fallback
    /// where dstemr does not deliver all k pairs.
    public static func leadingEigenpairs(ofSymmetric g: Matrix, count: Int) throws -> (values: [Double], vectors: Matrix) {
        guard g.rows == g.cols else {
            throw LinearAlgebraError(.shapeMismatch, "an eigen-decomposition needs a square matrix, got \(g.rows)×\(g.cols)")
        }
        let n = g.rows, k = min(max(0, count), n)
        guard k > 0 else { return ([], Matrix(zeros: n, 0)) }
        try requireFinite(g)
        if let pairs = try leadingEigenpairsByMRRR(g, n: n, k: k) { return pairs }
        var a = g.elements   // symmetric: row-major and column-major agree
        var found: COpenBLAS_lapack_int = 0
        var w = [Double](repeating: 0, count: n)
        var z = [Double](repeating: 0, count: n * k)
        var support = [COpenBLAS_lapack_int](repeating: 0, count: 2 * k)
        let info = LAPACKE_dsyevr(
            LAPACK_COL_MAJOR, job("V"), job("I"), job("U"), try int(n), &a, try int(n), 0, 0,
            try int(n - k + 1), try int(n), 0, &found, &w, &z, try int(n), &support)
        guard info == 0, Int(found) == k else { throw LinearAlgebraError.lapack("dsyevr", info: info) }
        return descending(values: w, vectors: z, n: n, k: k)
    }

    // MARK: - Internals

    /// `leadingEigenpairs` by dsytrd + dstemr + dormtr; nil where dstemr reports a failure or finds
    /// fewer than k pairs (the caller then uses dsyevr).
    private static func leadingEigenpairsByMRRR(_ g: Matrix, n: Int, k: Int) throws -> (values: [Double], vectors: Matrix)? {
        guard n > 1 else { return nil }
        var a = g.elements   // symmetric: row-major and column-major agree
        var d = [Double](repeating: 0, count: n)
        var e = [Double](repeating: 0, count: n)   // n − 1 off-diagonal entries; dstemr uses the last as workspace
        var tau = [Double](repeating: 0, count: n - 1)
        let reduced = LAPACKE_dsytrd(LAPACK_COL_MAJOR, job("U"), try int(n), &a, try int(n), &d, &e, &tau)
        guard reduced == 0 else { throw LinearAlgebraError.lapack("dsytrd", info: reduced) }
        var found: COpenBLAS_lapack_int = 0
        var w = [Double](repeating: 0, count: n)
        var z = [Double](repeating: 0, count: n * k)
        var support = [COpenBLAS_lapack_int](repeating: 0, count: 2 * k)
        var relativeAccuracy: COpenBLAS_lapack_int = 1
        let info = LAPACKE_dstemr(LAPACK_COL_MAJOR, job("V"), job("I"), try int(n), &d, &e, 0, 0,
                                  try int(n - k + 1), try int(n), &found, &w, &z, try int(n), try int(k),
                                  &support, &relativeAccuracy)
        guard info == 0, Int(found) == k else { return nil }
        let transformed = LAPACKE_dormtr(LAPACK_COL_MAJOR, job("L"), job("U"), job("N"), try int(n), try int(k),
                                         a, try int(n), tau, &z, try int(n))
        guard transformed == 0 else { throw LinearAlgebraError.lapack("dormtr", info: transformed) }
        return descending(values: w, vectors: z, n: n, k: k)
    }

    /// Ascending eigenvalues and their eigenvectors as LAPACK returns them (column-major z, n×k: column
    /// c is eigenvector c), in descending order with the vectors as the columns of a row-major matrix.
    private static func descending(values w: [Double], vectors z: [Double], n: Int, k: Int) -> (values: [Double], vectors: Matrix) {
        var vectors = Matrix(zeros: n, k)
        for j in 0..<k {
            let c = k - 1 - j
            for i in 0..<n { vectors.elements[i * k + j] = z[c * n + i] }
        }
        return ((0..<k).map { w[k - 1 - $0] }, vectors)
    }

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

    /// QR factorisation of m itself, from a column-major copy (ld = rows): the tall-skinny case LAPACK
    /// handles best (contiguous Householder columns).
    private static func qrOfColumnMajorCopy(_ m: Matrix) throws -> (buffer: [Double], tau: [Double], k: Int) {
        let k = min(m.rows, m.cols)
        guard k > 0 else { return ([], [], 0) }
        try requireFinite(m)
        var buffer = transposedCopy(m.elements, rows: m.rows, cols: m.cols)
        var tau = [Double](repeating: 0, count: k)
        let info = LAPACKE_dgeqrf(
            LAPACK_COL_MAJOR, try int(m.rows), try int(m.cols), &buffer, try int(m.rows), &tau)
        guard info == 0 else { throw LinearAlgebraError.lapack("dgeqrf", info: info) }
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

    /// R (k×cols) from a column-major QR buffer with leading dimension `leadingDimension`:
    /// element (i, j) sits at buffer[i + j·ld], i ≤ j.
    private static func upperR(columnMajor buffer: [Double], leadingDimension ld: Int, k: Int, cols: Int) -> Matrix {
        var r = Matrix(zeros: k, cols)
        for i in 0..<k {
            for j in i..<cols { r.elements[i * cols + j] = buffer[i + j * ld] }
        }
        return r
    }

    /// The transpose of a row-major rows×cols buffer (= its column-major copy), blocked for the cache.
    static func transposedCopy(_ source: [Double], rows: Int, cols: Int) -> [Double] {
        var result = [Double](repeating: 0, count: rows * cols)
        let block = 32
        source.withUnsafeBufferPointer { src in
            result.withUnsafeMutableBufferPointer { dst in
                var i0 = 0
                while i0 < rows {
                    let i1 = min(rows, i0 + block)
                    var j0 = 0
                    while j0 < cols {
                        let j1 = min(cols, j0 + block)
                        for i in i0..<i1 {
                            for j in j0..<j1 { dst[j * rows + i] = src[i * cols + j] }
                        }
                        j0 = j1
                    }
                    i0 = i1
                }
            }
        }
        return result
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
