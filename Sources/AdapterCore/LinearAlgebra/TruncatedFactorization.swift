/// The best rank-k approximation of an update, as factors, with what was left out.
///
/// `update` has scale 1, B' = U_k · diag(σ_1…σ_k) (out×k) and A' = V_kᵀ (k×in, orthonormal rows): the
/// singular values sit in B', as in PEFT's `add_weighted_adapter` SVD merges. When fewer than k
/// singular directions exist, B' and A' are padded with zero columns/rows so the rank is exactly k.
public struct TruncatedFactorization: Sendable, Equatable {
    /// The rank-k approximation, scale 1.
    public let update: LowRankUpdate
    /// Every singular value of the approximated matrix that the computation saw, descending
    /// (kept and discarded; the factored path yields at most Σ rᵢ of them, the rest are zero).
    public let singularValues: [Double]
    /// The requested rank k.
    public let rank: Int
    /// ‖M − approximation‖_F = √(Σ_{i>k} σᵢ²), from the discarded singular values.
    public let residualFrobeniusNorm: Double

    /// ‖M‖_F = √(Σ σᵢ²).
    public var frobeniusNorm: Double { singularValues.reduce(0) { $0 + $1 * $1 }.squareRoot() }

    /// Residual relative to ‖M‖_F (0 for a zero matrix).
    public var relativeResidual: Double {
        let total = frobeniusNorm
        return total > 0 ? residualFrobeniusNorm / total : 0
    }

    /// Builds B' = U_k Σ_k and A' = V_kᵀ from a thin SVD, padding to exactly `rank`.
    init(svd: SingularValueDecomposition, rank: Int) {
        let m = svd.u.rows, n = svd.vt.cols
        let available = svd.singularValues.count
        let kept = min(rank, available)
        var b = Matrix(zeros: m, rank)
        var a = Matrix(zeros: rank, n)
        for i in 0..<m {
            for j in 0..<kept { b.elements[i * rank + j] = svd.u.elements[i * svd.u.cols + j] * svd.singularValues[j] }
        }
        for j in 0..<kept {
            for c in 0..<n { a.elements[j * n + c] = svd.vt.elements[j * n + c] }
        }
        self.update = LowRankUpdate(unchecked: b, a, 1)
        self.singularValues = svd.singularValues
        self.rank = rank
        self.residualFrobeniusNorm = TruncatedFactorization.tailNorm(svd.singularValues, from: kept)
    }

    init(update: LowRankUpdate, singularValues: [Double], rank: Int) {
        self.update = update
        self.singularValues = singularValues
        self.rank = rank
        self.residualFrobeniusNorm = TruncatedFactorization.tailNorm(singularValues, from: min(rank, singularValues.count))
    }

    /// √(Σ_{i≥start} σᵢ²), scaled to avoid overflow/underflow.
    static func tailNorm(_ s: [Double], from start: Int) -> Double {
        guard start < s.count else { return 0 }
        let tail = s[start...]
        let biggest = tail.reduce(0) { max($0, abs($1)) }
        guard biggest > 0, biggest.isFinite else { return biggest }
        let sum = tail.reduce(0) { $0 + ($1 / biggest) * ($1 / biggest) }
        return biggest * sum.squareRoot()
    }
}
