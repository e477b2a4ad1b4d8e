/// The dense path: forms ΔW = s · B · A as an out×in matrix and works on it with dgemm and dgesdd.
///
/// It exists to check `LowRank` in tests and to measure it in benchmarks, and for the merge methods
/// (TIES, DARE) whose definitions are elementwise. Costs O(out · in · min(out, in)) per SVD.
public enum DenseReference {
    /// ΔW = s · B · A (out×in).
    public static func deltaW(_ update: LowRankUpdate) -> Matrix {
        update.b.multiplied(by: update.a, alpha: update.scale)
    }

    /// Σ wᵢ · ΔWᵢ (out×in).
    public static func weightedSum(_ updates: [LowRankUpdate], weights: [Double]) throws -> Matrix {
        try LowRank.requireTerms(updates, weights: weights)
        var sum = Matrix(zeros: updates[0].outFeatures, updates[0].inFeatures)
        for (u, w) in zip(updates, weights) {
            let term = deltaW(u)
            sum.elements.withUnsafeMutableBufferPointer { s in
                term.elements.withUnsafeBufferPointer { t in
                    for i in 0..<s.count { s[i] += w * t[i] }
                }
            }
        }
        return sum
    }

    /// All min(out, in) singular values of the dense ΔW, descending.
    public static func singularValues(of update: LowRankUpdate) throws -> [Double] {
        try LAPACK.singularValues(deltaW(update))
    }

    /// ‖ΔW‖_F from the dense matrix.
    public static func frobeniusNorm(of update: LowRankUpdate) -> Double {
        deltaW(update).frobeniusNormSquared.squareRoot()
    }

    /// ⟨ΔW₁, ΔW₂⟩_F = Σᵢⱼ (ΔW₁)ᵢⱼ (ΔW₂)ᵢⱼ from the dense matrices.
    public static func innerProduct(_ x: LowRankUpdate, _ y: LowRankUpdate) throws -> Double {
        try LowRank.requireSameShape([x, y])
        let dx = deltaW(x), dy = deltaW(y)
        var sum = 0.0
        for i in 0..<dx.elements.count { sum += dx.elements[i] * dy.elements[i] }
        return sum
    }

    /// Best rank-k approximation of a dense matrix by a thin dgesdd, as factors B' = U_k Σ_k, A' = V_kᵀ.
    public static func truncatedSVD(_ matrix: Matrix, rank: Int) throws -> TruncatedFactorization {
        guard rank >= 0 else { throw LinearAlgebraError(.invalidArgument, "target rank \(rank) is negative") }
        return TruncatedFactorization(svd: try LAPACK.svd(matrix), rank: rank)
    }
}
