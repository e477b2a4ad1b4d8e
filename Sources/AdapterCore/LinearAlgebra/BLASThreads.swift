import COpenBLAS

/// The number of threads OpenBLAS uses for BLAS/LAPACK calls in this process.
///
/// Benchmarks pin it so that the factored and dense paths are measured under the same conditions.
public enum BLASThreads {
    public static var count: Int { Int(openblas_get_num_threads()) }

    /// Sets the thread count (values below 1 are treated as 1).
    public static func set(_ count: Int) {
        openblas_set_num_threads(Int32(clamping: max(1, count)))
    }
}
