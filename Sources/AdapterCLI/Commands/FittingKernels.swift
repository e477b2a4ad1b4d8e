import BLASKernels

/// The numerical commands (`scan`, `detector behaviour`) run OpenBLAS kernels that fit the CPU, as
/// adapterd does: on a CPU whose model OpenBLAS does not know it would run generic kernels, and
/// behavioural screening would take three to four times as long. The switch executes adapterctl again
/// with the same arguments (`BLASKernelSwitch`); only a failure to do so is printed.
enum FittingKernels {
    /// Call at the start of a command's `run()` (never from a test's in-process call: it may replace
    /// the running program).
    static func ensure(_ command: String) {
        if case .failed(let line)? = BLASKernelSwitch.ensureFittingKernels() {
            printError("adapterctl \(command): note: \(line)")
        }
    }
}
