/// Why a linear-algebra computation could not produce a result.
///
/// LAPACK reports failures through an `info` code; adapterd turns every non-zero `info` into this error
/// instead of crashing, and checks shapes and finiteness before calling into BLAS/LAPACK.
public typealias LinearAlgebraError = CodedError<LinearAlgebraErrorCode>

/// The kind of failure, so callers can branch without parsing the message.
public enum LinearAlgebraErrorCode: String, ErrorCode {
    /// A LAPACK routine returned a non-zero `info`.
    case lapackFailure
    /// Operand shapes do not fit together (e.g. two updates of different widths).
    case shapeMismatch
    /// An input contains NaN or ±∞.
    case nonFinite
    /// An argument is outside its domain (negative rank, empty list, count mismatch, dimension too big).
    case invalidArgument
}

extension LinearAlgebraError {
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
