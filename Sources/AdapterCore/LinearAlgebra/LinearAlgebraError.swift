/// Why a linear-algebra computation could not produce a result.
///
/// LAPACK reports failures through an `info` code; adapterd turns every non-zero `info` into this error
/// instead of crashing, and checks shapes and finiteness before calling into BLAS/LAPACK.
public struct LinearAlgebraError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure, so callers can branch without parsing the message.
    public enum Code: String, Hashable, Sendable {
        /// A LAPACK routine returned a non-zero `info`.
        case lapackFailure
        /// Operand shapes do not fit together (e.g. two updates of different widths).
        case shapeMismatch
        /// An input contains NaN or ±∞.
        case nonFinite
        /// An argument is outside its domain (negative rank, empty list, count mismatch, dimension too big).
        case invalidArgument
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    static func lapack(_ routine: String, info: Int32) -> LinearAlgebraError {
        let reason: String
        if info < 0 {
            reason = "argument \(-info) had an illegal value"
        } else {
            reason = "the algorithm did not converge (info \(info))"
        }
        return LinearAlgebraError(.lapackFailure, "LAPACK \(routine) failed: \(reason)")
    }
}
