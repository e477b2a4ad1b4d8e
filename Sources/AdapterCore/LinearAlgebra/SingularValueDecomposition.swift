/// A singular value decomposition M = U · diag(S) · Vᵀ, singular values in descending order.
///
/// Thin: U is m×p and Vᵀ is p×n with p = min(m, n). Full: U is m×m and Vᵀ is n×n.
public struct SingularValueDecomposition: Sendable, Equatable {
    public let u: Matrix
    public let singularValues: [Double]
    public let vt: Matrix

    public init(u: Matrix, singularValues: [Double], vt: Matrix) {
        self.u = u
        self.singularValues = singularValues
        self.vt = vt
    }
}
