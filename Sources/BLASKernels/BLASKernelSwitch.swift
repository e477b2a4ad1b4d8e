import AdapterCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Gives adapterd (and adapterctl's offline screening) OpenBLAS kernels that fit the CPU without
/// configuration.
///
/// When OpenBLAS picked a kernel set without AVX2 on a CPU with AVX2 and FMA (`BLASKernelCheck`) and the
/// operator chose none (`OPENBLAS_CORETYPE` unset), the program executes itself again with
/// `OPENBLAS_CORETYPE` naming the widest set the CPU runs (`SkylakeX` with AVX-512 F/VL/BW/DQ/CD, else
/// `Haswell`): OpenBLAS reads the variable only when it is loaded. The new image keeps the PID,
/// arguments, environment and inherited descriptors (systemd's socket and NOTIFY_SOCKET), so systemd
/// sees nothing (and a shell sees the same command). It happens at most once: a marker variable
/// carries the first kernel name to the new image, which removes both variables again, so the
/// processes the daemon starts (an external evaluator) see the operator's environment.
public enum BLASKernelSwitch {
    static let kernelVariable = "OPENBLAS_CORETYPE"
    static let markerVariable = "ADAPTERD_BLAS_REEXECUTED_FROM"

    /// What start-up does about the kernels.
    enum Step: Equatable {
        /// Nothing: the kernels fit, the CPU has nothing wider, or the operator chose them.
        case keep
        /// Execute again with `OPENBLAS_CORETYPE` set to these kernels.
        case reexecute(kernels: String)
        /// This is the re-executed image; OpenBLAS first chose these kernels.
        case reexecuted(from: String)
    }

    static func step(environment: [String: String], coreName: String, cpuFlags: Set<String>) -> Step {
        if let first = environment[markerVariable] { return .reexecuted(from: first) }
        guard environment[kernelVariable] == nil,
              let kernels = BLASKernelCheck.betterKernels(coreName: coreName, cpuFlags: cpuFlags) else { return .keep }
        return .reexecute(kernels: kernels)
    }

    /// What `ensureFittingKernels` did, as a line to log or print.
    public enum Outcome: Sendable, Equatable {
        /// This image runs after the switch: which kernels OpenBLAS chose first and which it runs now.
        case switched(String)
        /// The switch was due but `execv` failed; the program goes on with the kernels it has.
        case failed(String)
    }

    /// Executes this program again with fitting kernels when that is the step (and then does not
    /// return); otherwise returns nil when nothing was done, else what was switched, or why the switch
    /// failed.
    public static func ensureFittingKernels() -> Outcome? {
        let current = BLASThreads.coreName
        let program = URL(fileURLWithPath: CommandLine.arguments.first ?? "adapterd").lastPathComponent
        switch step(environment: ProcessInfo.processInfo.environment, coreName: current,
                    cpuFlags: BLASKernelCheck.vectorUnitFlags) {
        case .keep:
            return nil
        case .reexecuted(let first):
            let chosen = ProcessInfo.processInfo.environment[kernelVariable] ?? "?"
            unsetenv(markerVariable)
            unsetenv(kernelVariable)
            return .switched("OpenBLAS chose its '\(first)' kernels, which use no AVX2, on a CPU with wider vector units; "
                + "\(program) executed itself again with \(kernelVariable)=\(chosen) and runs '\(current)' "
                + "(set \(kernelVariable) in its environment to choose the kernels yourself)")
        case .reexecute(let kernels):
            setenv(kernelVariable, kernels, 1)
            setenv(markerVariable, current, 1)
            execv("/proc/self/exe", CommandLine.unsafeArgv)
            let reason = String(cString: strerror(errno))
            unsetenv(markerVariable)
            unsetenv(kernelVariable)
            return .failed("could not execute \(program) again with \(kernelVariable)=\(kernels) (\(reason)); "
                + "it runs OpenBLAS's '\(current)' kernels")
        }
    }
}
