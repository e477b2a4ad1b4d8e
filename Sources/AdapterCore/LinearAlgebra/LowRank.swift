/// Factored math on low-rank updates ΔW = s · B · A (B out×r, A r×in) that never forms an out×in matrix.
///
/// Costs are O((out + in) · r²) for one update and O((out + in) · (Σ rᵢ)²) for a sum, against
/// O(out · in · min(out, in)) for the dense path (`DenseReference`).
///
/// - Singular values: B = Q_B R_B and Aᵀ = Q_A R_A give s·B·A = Q_B (s R_B R_Aᵀ) Q_Aᵀ; the singular values
///   of ΔW are those of the small core s R_B R_Aᵀ (min(out, in, r) of them). Only the R factors are
///   needed: for well-conditioned factors they come from CholeskyQR (R = chol(BᵀB), one dsyrk), otherwise
///   from Householder QR (see `columnTriangularFactor`).
/// - Norms and inner products use r×r Gram matrices: ‖sBA‖²_F = s² tr((BᵀB)(AAᵀ)) and
///   ⟨s₁B₁A₁, s₂B₂A₂⟩_F = s₁s₂ tr((B₁ᵀB₂)(A₂A₁ᵀ)).
/// - A weighted sum Σ wᵢ sᵢ Bᵢ Aᵢ equals [w₁s₁B₁ … wₙsₙBₙ] · [A₁; …; Aₙ]; orthonormal bases of both stacked
///   factors (from their Gram matrices by CholeskyQR when well conditioned, `GramTruncation.swift`, else
///   Householder QR) and an SVD of the (Σrᵢ)×(Σrᵢ) core give its exact singular values and its optimal
///   rank-k truncation (Eckart–Young).
public enum LowRank {
    /// Singular values of `update`, descending; min(out, in, r) of them (the rest of ΔW's are zero).
    public static func singularValues(of update: LowRankUpdate) throws -> [Double] {
        let k = min(update.rank, update.outFeatures, update.inFeatures)
        guard k > 0 else { return [] }
        let rB = try columnTriangularFactor(update.b)
        let rA = try columnTriangularFactor(update.a.transposedView)
        let core = rB.multiplied(by: rA, transposeOther: true, alpha: update.scale)
        return try LAPACK.singularValues(core)
    }

    /// Largest condition number of a factor for which its R is taken from a Cholesky factorisation of its
    /// Gram matrix (CholeskyQR) rather than from Householder QR: the Gram squares the condition number, so
    /// at κ ≤ 10³ the singular values of ΔW stay within ~10⁻¹⁰·σ₁ of the Householder ones.
    static let choleskyConditionLimit = 1e3

    /// R (k×r) with Rᵀ·R = XᵀX for a factor X (rows×r) given directly or as the transpose of a stored matrix.
    ///
    /// Fast path: R = chol(XᵀX) from one Gram product when X is tall with full column rank and κ(R) ≤ 10³,
    /// checked from the Gram's eigenvalues (σ(R)²; their error, about r·ε·‖XᵀX‖, is ten orders of
    /// magnitude below the 10⁻⁶·‖XᵀX‖ the check compares with). Otherwise Householder QR (dgeqrf),
    /// exact for any X.
    static func columnTriangularFactor(_ x: FactorView) throws -> Matrix {
        if x.rows >= x.cols, x.cols > 0 {
            // A NaN or ∞ in X (or an overflowing square) makes the Gram non-finite: then the Householder
            // path below checks X itself and reports it.
            let gram = x.isTransposed ? LAPACK.gramOfRows(x.stored) : LAPACK.gramOfColumns(x.stored)
            if gram.elements.allSatisfy(\.isFinite) {
                let squares = try LAPACK.eigenvalues(ofSymmetric: gram)   // ascending
                if let bottom = squares.first, let top = squares.last, bottom > 0,
                   top <= choleskyConditionLimit * choleskyConditionLimit * bottom, let r = try LAPACK.cholesky(gram) {
                    return r
                }
            }
        }
        return x.isTransposed ? try LAPACK.triangularFactor(ofTransposeOf: x.stored) : try LAPACK.triangularFactor(x.stored)
    }

    /// A factor X either stored as is or stored transposed (A for Aᵀ), so no transposed copy is made.
    struct FactorView {
        let stored: Matrix
        let isTransposed: Bool
        var rows: Int { isTransposed ? stored.cols : stored.rows }
        var cols: Int { isTransposed ? stored.rows : stored.cols }
    }

    static func columnTriangularFactor(_ m: Matrix) throws -> Matrix {
        try columnTriangularFactor(FactorView(stored: m, isTransposed: false))
    }

    /// ‖ΔW‖²_F = s² · tr((BᵀB)(AAᵀ)), from two r×r Gram matrices.
    public static func frobeniusNormSquared(of update: LowRankUpdate) -> Double {
        guard update.rank > 0 else { return 0 }
        let gb = update.b.multiplied(by: update.b, transposeSelf: true)
        let ga = update.a.multiplied(by: update.a, transposeOther: true)
        return max(0, update.scale * update.scale * traceOfProduct(gb, ga))
    }

    /// ‖ΔW‖_F.
    public static func frobeniusNorm(of update: LowRankUpdate) -> Double {
        frobeniusNormSquared(of: update).squareRoot()
    }

    /// ⟨ΔW₁, ΔW₂⟩_F = s₁s₂ · tr((B₁ᵀB₂)(A₂A₁ᵀ)); the updates must have the same out and in widths.
    public static func innerProduct(_ x: LowRankUpdate, _ y: LowRankUpdate) throws -> Double {
        try requireSameShape([x, y])
        guard x.rank > 0, y.rank > 0 else { return 0 }
        let bb = x.b.multiplied(by: y.b, transposeSelf: true)  // r₁×r₂
        let aa = y.a.multiplied(by: x.a, transposeOther: true)  // r₂×r₁
        return x.scale * y.scale * traceOfProduct(bb, aa)
    }

    /// ⟨ΔW₁, ΔW₂⟩ / (‖ΔW₁‖ ‖ΔW₂‖) in [−1, 1]; 0 when either update is zero.
    public static func cosine(_ x: LowRankUpdate, _ y: LowRankUpdate) throws -> Double {
        let inner = try innerProduct(x, y)
        let norms = frobeniusNorm(of: x) * frobeniusNorm(of: y)
        guard norms > 0 else { return 0 }
        return min(1, max(-1, inner / norms))
    }

    /// ‖ΔW₁ − ΔW₂‖_F, computed from the QR core of the stacked factors (accurate even when the two are close).
    public static func distance(_ x: LowRankUpdate, _ y: LowRankUpdate) throws -> Double {
        let difference = try concatenatedWeightedSum([x, y], weights: [1, -1])
        return try singularValues(of: difference).reduce(0) { $0 + $1 * $1 }.squareRoot()
    }

    /// The exact sum Σ wᵢ · ΔWᵢ as one update of rank Σ rᵢ and scale 1: B' = [B₁ … Bₙ] and
    /// A' = [w₁s₁A₁; …; wₙsₙAₙ] (the weights and scales go into A', as PEFT's `cat` merge does).
    public static func concatenatedWeightedSum(_ updates: [LowRankUpdate], weights: [Double]) throws -> LowRankUpdate {
        try requireTerms(updates, weights: weights)
        let out = updates[0].outFeatures, inn = updates[0].inFeatures
        let total = try totalRank(updates)
        let (b, a) = stackedFactors(Array(zip(updates, weights)), out: out, inn: inn, width: total, weighted: .a)
        return LowRankUpdate(unchecked: b, a, 1)
    }

    /// Optimal rank-k approximation (Eckart–Young) of Σ wᵢ · ΔWᵢ, without forming any out×in matrix.
    ///
    /// Stacks B̂ = [B₁ … Bₙ] (out×R) and Â = [A₁; …; Aₙ] (R×in), R = Σ rᵢ, so that Σ wᵢΔWᵢ = B̂ D Â with
    /// D = diag(wᵢsᵢ) repeated over each block. Orthonormal bases B̂ = Q_B R_B, Âᵀ = Q_A R_A turn it into
    /// Q_B (R_B D R_Aᵀ) Q_Aᵀ, and the SVD of that R×R core, U Σ Vᵀ, gives the exact SVD of the sum. The
    /// result keeps the first k: B' = Q_B U_k Σ_k, A' = V_kᵀ Q_Aᵀ, scale 1 (see `TruncatedFactorization`),
    /// and reports all singular values and the residual √(Σ_{i>k} σᵢ²). Rank-deficient and zero updates
    /// give zero singular values (never NaN).
    ///
    /// R_B and R_A come from the R×R Gram matrices (CholeskyQR, `gramTruncatedWeightedSum`) when both
    /// stacked factors are well enough conditioned for the error bound documented there; otherwise,
    /// and for factors that are not tall, from Householder QR (`truncatedWeightedSumByHouseholderQR`).
    ///
    /// `grams`, when the caller keeps them (`FactorGrams`), are B̂ᵀB̂ and ÂÂᵀ of these updates stacked in
    /// this order, used instead of computing them.
    public static func truncatedWeightedSum(
        _ updates: [LowRankUpdate], weights: [Double], rank: Int, grams: (columns: Matrix, rows: Matrix)? = nil
    ) throws -> TruncatedFactorization {
        try requireTerms(updates, weights: weights)
        guard rank >= 0 else { throw LinearAlgebraError(.invalidArgument, "target rank \(rank) is negative") }
        if let fast = try gramTruncatedWeightedSum(updates, weights: weights, rank: rank, grams: grams) { return fast }
        return try truncatedWeightedSumByHouseholderQR(updates, weights: weights, rank: rank)
    }

    /// `truncatedWeightedSum` by Householder QR of both stacked factors (dgeqrf + dorgqr on out×R and
    /// in×R), exact for any factors: the fallback of the Gram path and the baseline `adapterd-bench
    /// merge` measures it against. Costs O((out + in)·R²) with a large constant (≈ 4·(out + in)·R² flops,
    /// much of it in level-2 BLAS).
    public static func truncatedWeightedSumByHouseholderQR(
        _ updates: [LowRankUpdate], weights: [Double], rank: Int
    ) throws -> TruncatedFactorization {
        try requireTerms(updates, weights: weights)
        guard rank >= 0 else { throw LinearAlgebraError(.invalidArgument, "target rank \(rank) is negative") }
        let out = updates[0].outFeatures, inn = updates[0].inFeatures
        let total = try totalRank(updates)
        guard total > 0, out > 0, inn > 0 else {
            return TruncatedFactorization(
                update: LowRankUpdate(unchecked: Matrix(zeros: out, rank), Matrix(zeros: rank, inn), 1),
                singularValues: [], rank: rank)
        }
        let (bHat, aHat) = stackedFactors(Array(zip(updates, weights)), out: out, inn: inn, width: total, weighted: .b)
        let (qB, rB) = try LAPACK.thinQR(bHat)  // out×p, p×R
        let (qAT, rA) = try LAPACK.thinQR(ofTransposeOf: aHat)  // q×in, q×R
        let core = rB.multiplied(by: rA, transposeOther: true)  // p×q
        let svd = try LAPACK.svd(core)
        let kept = min(rank, svd.singularValues.count)
        // Small factors of the core: (U_k Σ_k) p×rank and V_kᵀ rank×q, zero-padded past `kept`.
        let p = core.rows, q = core.cols
        var us = Matrix(zeros: p, rank)
        for i in 0..<p {
            for j in 0..<kept { us.elements[i * rank + j] = svd.u.elements[i * svd.u.cols + j] * svd.singularValues[j] }
        }
        var vt = Matrix(zeros: rank, q)
        for j in 0..<kept {
            for c in 0..<q { vt.elements[j * q + c] = svd.vt.elements[j * q + c] }
        }
        let newB = qB * us
        let newA = vt * qAT
        return TruncatedFactorization(
            update: LowRankUpdate(unchecked: newB, newA, 1), singularValues: svd.singularValues, rank: rank)
    }

    // MARK: - Internals

    /// tr(X · Y) for X m×n and Y n×m, without forming the product.
    static func traceOfProduct(_ x: Matrix, _ y: Matrix) -> Double {
        var sum = 0.0
        for i in 0..<x.rows {
            for j in 0..<x.cols { sum += x.elements[i * x.cols + j] * y.elements[j * y.cols + i] }
        }
        return sum
    }

    static func requireSameShape(_ updates: [LowRankUpdate]) throws {
        guard let first = updates.first else { return }
        for (index, u) in updates.enumerated()
        where u.outFeatures != first.outFeatures || u.inFeatures != first.inFeatures {
            throw LinearAlgebraError(
                .shapeMismatch,
                "update \(index) maps \(u.inFeatures)→\(u.outFeatures) but update 0 maps "
                    + "\(first.inFeatures)→\(first.outFeatures)")
        }
    }

    static func requireTerms(_ updates: [LowRankUpdate], weights: [Double]) throws {
        guard !updates.isEmpty else { throw LinearAlgebraError(.invalidArgument, "no updates to combine") }
        guard updates.count == weights.count else {
            throw LinearAlgebraError(
                .invalidArgument, "\(updates.count) updates but \(weights.count) weights")
        }
        if let bad = weights.first(where: { !$0.isFinite }) {
            throw LinearAlgebraError(.nonFinite, "weight \(bad) is not finite")
        }
        try requireSameShape(updates)
    }

    static func totalRank(_ updates: [LowRankUpdate]) throws -> Int {
        guard let total = updates.lazy.map(\.rank).checkedSum() else {
            throw LinearAlgebraError(.invalidArgument, "total rank overflows")
        }
        return total
    }
}

extension Matrix {
    /// This matrix seen as the transpose of a factor (no copy).
    var transposedView: LowRank.FactorView { LowRank.FactorView(stored: self, isTransposed: true) }
}
