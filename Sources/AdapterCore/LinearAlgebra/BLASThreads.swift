import COpenBLAS

/// The number of threads OpenBLAS uses for BLAS/LAPACK calls in this process.
///
/// Benchmarks pin it so that the factored and dense paths are measured under the same conditions.
public enum BLASThreads {
    public static var count: Int { Int(openblas_get_num_threads()) }

    /// The kernel set OpenBLAS chose for this CPU (e.g. "Zen", "Haswell"; OPENBLAS_CORETYPE overrides
    /// it) and its build configuration, for benchmark reports.
    public static var coreName: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }
    public static var configuration: String { openblas_get_config().map { String(cString: $0) } ?? "unknown" }

    /// Sets the thread count (values below 1 are treated as 1).
    public static func set(_ count: Int) {
        openblas_set_num_threads(Int32(clamping: max(1, count)))
    }
}
