/// The truncated SVD of a weighted sum of low-rank updates from the Gram matrices of the stacked
/// factors (CholeskyQR), the fast path of `LowRank.truncatedWeightedSum`.
///
/// With B̂ = [B₁ … Bₙ] (out×R), Â = [A₁; …; Aₙ] (R×in) and D = diag(wᵢsᵢ) (each repeated rᵢ times),
/// Σ wᵢΔWᵢ = B̂ D Â. Terms j whose column bⱼ or row aⱼ is exactly zero, or whose coefficient is zero,
/// contribute exactly nothing and are left out (zero modules, padding); of the p kept terms:
/// 1. G_B = B̂ᵀB̂ and G_A = ÂÂᵀ (p×p) by dsyrk: (out + in)·R²/2 multiply-adds, the whole cost at
///    level-3 BLAS speed, against ≈ 4·(out + in)·R² mostly level-2 flops for Householder QR with Q formed.
/// 2. Columns scaled to unit length (S_B, S_A: the column norms, so that scaling does not count as
///    ill-conditioning), Cholesky S⁻¹GS⁻¹ = RᵀR (dpotrf), and the condition of R estimated (dtrcon).
/// 3. B̂ = Q_B R_B S_B and Âᵀ = Q_A R_A S_A with Q = B̂ S⁻¹ R⁻¹ never formed: the p×p core
///    K = R_B (S_B D S_A) R_Aᵀ = U Σ Vᵀ (dgesdd), and only the kept directions are recovered:
///    B' = B̂ · (S_B⁻¹ R_B⁻¹ U_k Σ_k) and A' = (S_A⁻¹ R_A⁻¹ V_k)ᵀ · Â, two out×R×k and R×in×k products.
///
/// Error bound. For the unit-column factor X (B̂S_B⁻¹ or ÂᵀS_A⁻¹) with condition number κ, the computed
/// Gram and Cholesky factor satisfy R̂ᵀR̂ = XᵀX + E with ‖E‖₂ ≤ c·ε (ε = 2⁻⁵³; c a low-degree polynomial in
/// out/in and R: ≤ R·out in the worst case, ≈ √out + R in practice), so Q = X R̂⁻¹ is orthonormal up to
/// δ = ‖QᵀQ − I‖₂ ≤ c·ε·κ² (the classical CholeskyQR bound). Since the sum equals Q_B K Q_Aᵀ exactly for
/// the computed R's (up to ε‖K‖ in forming K), with δ = δ_B + δ_A:
/// - every singular value is within (δ + O(ε))·σᵢ + O(ε)·σ₁ of the exact one (multiplicative
///   perturbation by Q_B, Q_A; dgesdd is backward stable on K);
/// - the residual is near-optimal: ‖ΣwᵢΔWᵢ − B'A'‖_F ≤ (1 + δ)²·‖ΣwᵢΔWᵢ − M_k‖_F, M_k the exact rank-k
///   truncation, and B'A' differs from M_k by O(δ·σ₁/(σ_k − σ_{k+1}))·‖ΣwᵢΔWᵢ‖ (Wedin; the dense and
///   Householder paths have the same sensitivity with ε in place of δ).
/// The path is taken only when both estimated condition numbers are at most `gramConditionLimit`
/// (10³, so c·ε·κ² ≤ c·1.1·10⁻¹⁰: dtrcon's 1-norm estimate, or where that is above the limit twice a
/// power-iteration estimate of the 2-norm κ the bound is stated in), the factors are tall (p ≤ out,
/// p ≤ in) and every Gram entry is finite; otherwise (nearly parallel or duplicated factors, wide
/// factors, overflow, NaN) `nil` sends the caller to Householder QR, which is exact for any factors.
/// docs/PERFORMANCE.md has the measured errors.
extension LowRank {
    /// Largest estimated condition number (columns scaled to unit length) of either stacked factor's
    /// Cholesky factor for which the Gram path is used (see the error bound above).
    static let gramConditionLimit = 1e3

    /// Σ wᵢΔWᵢ truncated to `rank` through the Gram matrices (`grams` when given, else computed), or nil
    /// when Householder QR must be used. `updates` and `weights` are validated by the caller.
    static func gramTruncatedWeightedSum(
        _ updates: [LowRankUpdate], weights: [Double], rank: Int, grams: (columns: Matrix, rows: Matrix)? = nil
    ) throws -> TruncatedFactorization? {
        let out = updates[0].outFeatures, inn = updates[0].inFeatures
        let total = try totalRank(updates)
        guard total > 0, out > 0, inn > 0 else { return nil }
        var coefficient = [Double](repeating: 0, count: total)
        var offset = 0
        for (u, w) in zip(updates, weights) {
            for j in 0..<u.rank { coefficient[offset + j] = w * u.scale }
            offset += u.rank
        }
        guard let grams else {
            let b = stackedColumns(updates), a = stackedRows(updates)   // out × R, R × in
            return try gramTruncation(.stacked(b: b, a: a), gramB: LAPACK.gramOfColumns(b), gramA: LAPACK.gramOfRows(a),
                                      coefficients: coefficient, rank: rank)
        }
        guard grams.columns.rows == total, grams.columns.cols == total, grams.rows.rows == total,
              grams.rows.cols == total else {
            throw LinearAlgebraError(.shapeMismatch, "Grams of \(grams.columns.rows) and \(grams.rows.rows) terms "
                                     + "for a stack of \(total)")
        }
        // With the Grams given the stacks are needed only in two products: formed from the members'
        // factors one by one instead of copying every factor into a stack first.
        return try gramTruncation(.members(updates), gramB: grams.columns, gramA: grams.rows,
                                  coefficients: coefficient, rank: rank)
    }

    /// The stacked factors B̂ = [B₁ … Bₙ] (out×R) and Â = [A₁; …; Aₙ] (R×in) of a weighted sum: formed,
    /// or the members' own factors, of which only the products the merge needs are formed.
    enum FactorStack {
        case stacked(b: Matrix, a: Matrix)
        case members([LowRankUpdate])

        var out: Int {
            switch self {
            case .stacked(let b, _): b.rows
            case .members(let updates): updates[0].outFeatures
            }
        }

        var inn: Int {
            switch self {
            case .stacked(_, let a): a.cols
            case .members(let updates): updates[0].inFeatures
            }
        }

        /// B̂·X (out × k) and Yᵀ·Â (k × in), for X and Y of R × k.
        func products(_ x: Matrix, _ y: Matrix) -> (b: Matrix, a: Matrix) {
            switch self {
            case .stacked(let b, let a):
                return (b.multiplied(by: x), y.multiplied(by: a, transposeSelf: true))
            case .members(let updates):
                let k = x.cols
                var b = Matrix(zeros: out, k), a = Matrix(zeros: k, inn)
                var offset = 0
                for u in updates where u.rank > 0 {
                    // B += Bᵢ · X[offset ..< offset + rᵢ, :] and A += Y[offset ..< offset + rᵢ, :]ᵀ · Aᵢ.
                    LAPACK.addProduct(into: &b, u.b, x, rows: offset ..< offset + u.rank, transposingRows: false)
                    LAPACK.addProduct(into: &a, u.a, y, rows: offset ..< offset + u.rank, transposingRows: true)
                    offset += u.rank
                }
                return (b, a)
            }
        }
    }

    /// The Gram path on stacked factors and their Grams (R×R): B̂ D Â truncated to `rank`, or nil when a
    /// factor is too ill-conditioned, not tall, or a Gram not finite. Callers that keep Grams (e.g.
    /// across ranks or weightings) pass them instead of recomputing.
    static func gramTruncation(
        _ stack: FactorStack, gramB: Matrix, gramA: Matrix, coefficients: [Double], rank: Int
    ) throws -> TruncatedFactorization? {
        let total = coefficients.count, out = stack.out, inn = stack.inn
        let spectrumLength = min(total, out, inn)
        guard let core = try GramCore(gramB: gramB, gramA: gramA, coefficients: coefficients, out: out, inn: inn) else {
            return nil
        }
        let p = core.active.count
        guard p > 0 else {
            return TruncatedFactorization(
                update: LowRankUpdate(unchecked: Matrix(zeros: out, rank), Matrix(zeros: rank, inn), 1),
                singularValues: [Double](repeating: 0, count: spectrumLength), rank: rank)
        }
        let svd = try LAPACK.svd(core.core)
        let kept = min(rank, svd.singularValues.count)
        // Y_B = U_k Σ_k and Y_A = V_k (p×k).
        var yB = Matrix(zeros: p, kept)
        var yA = Matrix(zeros: p, kept)
        for i in 0..<p {
            for j in 0..<kept {
                yB.elements[i * kept + j] = svd.u.elements[i * svd.u.cols + j] * svd.singularValues[j]
                yA.elements[i * kept + j] = svd.vt.elements[j * svd.vt.cols + i]
            }
        }
        var values = svd.singularValues
        if values.count < spectrumLength { values += [Double](repeating: 0, count: spectrumLength - values.count) }
        return TruncatedFactorization(update: factors(stack, core: core, yB: yB, yA: yA, total: total, rank: rank),
                                      singularValues: values, rank: rank)
    }

    /// The factors X_B, X_A (R × k) of the rank-k truncation of a merge, from the core and the leading
    /// eigenpairs of KKᵀ a rank curve computed (`LeadingComponents`), without factoring the core again:
    /// with wⱼ = Kᵀuⱼ (so ‖wⱼ‖ = σⱼ and wⱼ/‖wⱼ‖ = vⱼ), Y_B = [uⱼ‖wⱼ‖] and Y_A = [wⱼ/‖wⱼ‖]; component j is
    /// uⱼuⱼᵀK, the projection of the core on its leading left directions, however small σⱼ is (a
    /// direction with wⱼ = 0 gives a zero column of both). The same truncation as `gramTruncation` up to
    /// the eigenvectors' rounding (ε·σ₁²/(σⱼ·gap) in uⱼ, against ε·σ₁/gap for dgesdd).
    static func truncationFactors(_ components: LeadingComponents, total: Int) -> TruncationFactors {
        let core = components.core, p = core.active.count, kept = components.vectors.cols
        guard p > 0, kept > 0 else {
            return TruncationFactors(b: Matrix(zeros: total, 0), a: Matrix(zeros: total, 0), complete: true)
        }
        let (u, w) = (components.vectors, components.projected)   // w: k × p, row j is uⱼᵀK = σⱼvⱼᵀ
        var yB = Matrix(zeros: p, kept)
        var yA = Matrix(zeros: p, kept)
        for j in 0..<kept {
            var squares = 0.0
            for i in 0..<p { squares += w.elements[j * p + i] * w.elements[j * p + i] }
            let norm = squares.squareRoot()
            guard norm > 0 else { continue }
            for i in 0..<p {
                yB.elements[i * kept + j] = u.elements[i * kept + j] * norm
                yA.elements[i * kept + j] = w.elements[j * p + i] / norm
            }
        }
        let (b, a) = scattered(core: core, yB: yB, yA: yA, total: total, width: kept)
        return TruncationFactors(b: b, a: a, complete: kept == p)
    }

    /// The rank-`rank` truncation from `factors` (made for this stack; `factors.covers(rank:)`): their
    /// first `rank` columns, zero columns past the ones they have.
    static func truncation(_ stack: FactorStack, factors: TruncationFactors, rank: Int) -> LowRankUpdate {
        let total = factors.b.rows, have = factors.b.cols, kept = min(rank, have)
        if have == rank {
            let (newB, newA) = stack.products(factors.b, factors.a)
            return LowRankUpdate(unchecked: newB, newA, 1)
        }
        var fullB = Matrix(zeros: total, rank)
        var fullA = Matrix(zeros: total, rank)
        for t in 0..<total {
            for j in 0..<kept {
                fullB.elements[t * rank + j] = factors.b.elements[t * have + j]
                fullA.elements[t * rank + j] = factors.a.elements[t * have + j]
            }
        }
        let (newB, newA) = stack.products(fullB, fullA)  // out × rank, rank × in
        return LowRankUpdate(unchecked: newB, newA, 1)
    }

    /// B' = B̂ · X_B and A' = X_Aᵀ · Â with X = S⁻¹ R⁻¹ Y (p × kept) scattered into R × `rank`.
    private static func factors(_ stack: FactorStack, core: GramCore, yB: Matrix, yA: Matrix, total: Int,
                                rank: Int) -> LowRankUpdate {
        let (fullB, fullA) = scattered(core: core, yB: yB, yA: yA, total: total, width: rank)
        let (newB, newA) = stack.products(fullB, fullA)  // out × rank, rank × in
        return LowRankUpdate(unchecked: newB, newA, 1)
    }

    /// X = S⁻¹ R⁻¹ Y (p × kept) for both factors, scattered into R × `width` (zero rows for the terms left
    /// out, zero columns past `kept`).
    private static func scattered(core: GramCore, yB: Matrix, yA: Matrix, total: Int, width: Int) -> (b: Matrix, a: Matrix) {
        let kept = yB.cols
        let xB = LAPACK.solveUpperTriangular(core.rB, yB)
        let xA = LAPACK.solveUpperTriangular(core.rA, yA)
        var fullB = Matrix(zeros: total, width)
        var fullA = Matrix(zeros: total, width)
        for (i, term) in core.active.enumerated() {
            for j in 0..<kept {
                fullB.elements[term * width + j] = xB.elements[i * kept + j] / core.normsB[i]
                fullA.elements[term * width + j] = xA.elements[i * kept + j] / core.normsA[i]
            }
        }
        return (fullB, fullA)
    }

    /// Upper-triangular R with RᵀR = S⁻¹ G[J, J] S⁻¹, S = diag(√G_jj) over the active terms J, and
    /// the column norms √G_jj; nil if the scaled Gram is not numerically positive definite or R's
    /// estimated condition number exceeds `gramConditionLimit` (the 1-norm estimate, and if that is
    /// over the limit, twice the 2-norm estimate).
    static func scaledCholesky(_ gram: Matrix, active: [Int]) throws -> (Matrix, [Double])? {
        let n = gram.rows, p = active.count
        let norms = active.map { gram.elements[$0 * n + $0].squareRoot() }
        var scaled = Matrix(zeros: p, p)
        for (i, ti) in active.enumerated() {
            for (j, tj) in active.enumerated() {
                scaled.elements[i * p + j] = gram.elements[ti * n + tj] / (norms[i] * norms[j])
            }
        }
        guard let r = try LAPACK.cholesky(scaled) else { return nil }
        let reciprocal = try LAPACK.reciprocalConditionOfUpperTriangular(r)
        guard reciprocal.isFinite, reciprocal > 0 else { return nil }
        if reciprocal * gramConditionLimit >= 1 { return (r, norms) }
        // dtrcon's 1-norm estimate can exceed the 2-norm condition number the bound is about by up to
        // p times (e.g. 1.3·10³ against 57 for 32 stacked rank-16 factors of width 1024): measure that
        // one, with a factor 2 of margin for power iteration approaching it from below.
        guard 2 * (try LAPACK.twoNormConditionOfUpperTriangular(r)) <= gramConditionLimit else { return nil }
        return (r, norms)
    }

    /// B̂ = [B₁ … Bₙ] (out × Σ rᵢ), unscaled.
    static func stackedColumns(_ updates: [LowRankUpdate]) -> Matrix {
        let out = updates[0].outFeatures
        let total = updates.reduce(0) { $0 + $1.rank }
        var stacked = Matrix(zeros: out, total)
        stacked.elements.withUnsafeMutableBufferPointer { dst in
            var offset = 0
            for u in updates where u.rank > 0 {
                let r = u.rank
                u.b.elements.withUnsafeBufferPointer { src in
                    for row in 0..<out {
                        _ = UnsafeMutableBufferPointer(rebasing: dst[(row * total + offset)..<(row * total + offset + r)])
                            .update(fromContentsOf: src[(row * r)..<(row * r + r)])
                    }
                }
                offset += r
            }
        }
        return stacked
    }

    /// Â = [A₁; …; Aₙ] (Σ rᵢ × in), unscaled: the factors' elements one after another.
    static func stackedRows(_ updates: [LowRankUpdate]) -> Matrix {
        let inn = updates[0].inFeatures
        var elements: [Double] = []
        elements.reserveCapacity(updates.reduce(0) { $0 + $1.a.elements.count })
        for u in updates { elements.append(contentsOf: u.a.elements) }
        return Matrix(rows: elements.count / max(1, inn), cols: inn, elements: elements)
    }
}

/// The p×p core of B̂ D Â in the orthonormal bases CholeskyQR gives its stacked factors (step 3 of
/// `LowRank.gramTruncation`): B̂ D Â = Q_B K Q_Aᵀ with K = R_B (S_B D S_A) R_Aᵀ, over the `active` terms
/// only. Everything the merge's spectrum and its members' inner products with it need, from the Grams
/// alone.
struct GramCore: Sendable {
    /// The terms that contribute (non-zero column of B̂, row of Â and coefficient), in order.
    let active: [Int]
    /// Upper-triangular Cholesky factors of the unit-column Grams over `active` (p×p).
    let rB: Matrix
    let rA: Matrix
    /// The active columns' norms (‖bⱼ‖, ‖aⱼ‖).
    let normsB: [Double]
    let normsA: [Double]
    /// K (p×p; 0×0 when no term is active).
    let core: Matrix

    /// nil when the Gram path does not apply (a Gram not finite, more active terms than rows or
    /// columns, or a factor's estimated condition number over `LowRank.gramConditionLimit`): the caller
    /// uses Householder QR instead.
    init?(gramB: Matrix, gramA: Matrix, coefficients: [Double], out: Int, inn: Int) throws {
        let total = coefficients.count
        guard gramB.elements.allSatisfy(\.isFinite), gramA.elements.allSatisfy(\.isFinite) else { return nil }
        let active = (0..<total).filter {
            gramB.elements[$0 * total + $0] > 0 && gramA.elements[$0 * total + $0] > 0 && coefficients[$0] != 0
        }
        let p = active.count
        self.active = active
        guard p > 0 else {
            (rB, rA, normsB, normsA, core) = (Matrix(zeros: 0, 0), Matrix(zeros: 0, 0), [], [], Matrix(zeros: 0, 0))
            return
        }
        guard p <= out, p <= inn,
              let (rB, normsB) = try LowRank.scaledCholesky(gramB, active: active),
              let (rA, normsA) = try LowRank.scaledCholesky(gramA, active: active)
        else { return nil }
        // K = R_B · (diag(‖bⱼ‖ cⱼ ‖aⱼ‖) · R_Aᵀ) (p×p), the right factor formed and R_B applied by dtrmm.
        var right = Matrix(zeros: p, p)
        for i in 0..<p {
            let d = normsB[i] * coefficients[active[i]] * normsA[i]
            for j in 0...i { right.elements[i * p + j] = d * rA.elements[j * p + i] }
        }
        (self.rB, self.rA, self.normsB, self.normsA) = (rB, rA, normsB, normsA)
        core = LAPACK.multiplyUpperTriangular(rB, right)
    }
}

/// One module's merge core with its leading eigenpairs of KKᵀ (λⱼ = σⱼ², descending, and the vectors
/// uⱼ as the columns of a p × k matrix), as a rank curve computes them (`RankQualityCurve`).
struct LeadingComponents: Sendable {
    let core: GramCore
    let values: [Double]
    let vectors: Matrix
    /// Uₖᵀ K (k × p): row j is uⱼᵀK = σⱼvⱼᵀ, which both the curve's inner products and the merge's
    /// factors read.
    let projected: Matrix

    init(core: GramCore, values: [Double], vectors: Matrix) {
        self.core = core
        self.values = values
        self.vectors = vectors
        projected = core.active.isEmpty ? Matrix(zeros: 0, 0) : vectors.multiplied(by: core.core, transposeSelf: true)
    }
}

/// The R × k factors of a module's truncated merge, B' = B̂·X_B and A' = X_Aᵀ·Â (`b` is X_B, `a` is X_A),
/// which a rank curve keeps so that the merge it scored is written without factoring its core again
/// (`LowRank.truncationFactors`, `LowRank.truncation(_:factors:rank:)`).
struct TruncationFactors: Sendable {
    let b: Matrix
    let a: Matrix
    /// Whether they hold every direction the merge has (fewer than k exist).
    let complete: Bool

    /// Whether they hold the truncation at `rank`: that many directions, or every one there is.
    func covers(rank: Int) -> Bool { b.cols >= rank || complete }
}
