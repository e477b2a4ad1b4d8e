extension LowRank {
    /// Which stacked factor carries each block's coefficient wᵢsᵢ.
    enum WeightedFactor { case a, b }

    /// B̂ = [B₁ … Bₙ] (out × width) and Â = [A₁; …; Aₙ] (width × in), blocks in order, each block of the
    /// `weighted` factor multiplied by its term's weight × the update's scale, so that B̂Â = Σ wᵢ sᵢ BᵢAᵢ.
    /// The rank slots past Σ rᵢ (when `width` is larger) stay zero. Shapes are validated by the caller.
    static func stackedFactors(_ terms: [(update: LowRankUpdate, weight: Double)], out: Int, inn: Int, width: Int,
                               weighted: WeightedFactor) -> (b: Matrix, a: Matrix) {
        var b = Matrix(zeros: out, width)
        var a = Matrix(zeros: width, inn)
        var offset = 0
        for (u, w) in terms {
            let factor = w * u.scale
            let bFactor = weighted == .b ? factor : 1, aFactor = weighted == .a ? factor : 1
            for row in 0..<out {
                for j in 0..<u.rank { b.elements[row * width + offset + j] = bFactor * u.b.elements[row * u.rank + j] }
            }
            for j in 0..<u.rank {
                for c in 0..<inn { a.elements[(offset + j) * inn + c] = aFactor * u.a.elements[j * inn + c] }
            }
            offset += u.rank
        }
        return (b, a)
    }
}
