/// A weight update in factored form, ΔW = scale · B · A, with B out×r and A r×in.
///
/// This is the operand of every factored computation in `LowRank`; a `LoRAModule` provides one through
/// `update`. The out×in product is never formed by this type.
public struct LowRankUpdate: Sendable, Equatable {
    /// out × r.
    public let b: Matrix
    /// r × in.
    public let a: Matrix
    public let scale: Double

    /// Checks that B's columns match A's rows.
    public init(b: Matrix, a: Matrix, scale: Double = 1) throws {
        guard b.cols == a.rows else {
            throw LinearAlgebraError(
                .shapeMismatch, "factor B is \(b.rows)×\(b.cols) but A is \(a.rows)×\(a.cols): ranks differ")
        }
        guard scale.isFinite else { throw LinearAlgebraError(.nonFinite, "scale \(scale) is not finite") }
        self.init(unchecked: b, a, scale)
    }

    init(unchecked b: Matrix, _ a: Matrix, _ scale: Double) {
        self.b = b
        self.a = a
        self.scale = scale
    }

    public var rank: Int { a.rows }
    public var outFeatures: Int { b.rows }
    public var inFeatures: Int { a.cols }

    /// The update multiplied by a scalar (only the scale changes).
    public func scaled(by factor: Double) -> LowRankUpdate {
        LowRankUpdate(unchecked: b, a, scale * factor)
    }
}

extension LoRAModule {
    /// This module's ΔW = scale · B · A as a factored update.
    public var update: LowRankUpdate { LowRankUpdate(unchecked: b, a, scale) }
}
