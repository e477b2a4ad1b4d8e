import Testing
@testable import AdapterDaemon

/// When adapterd executes itself again for fitting OpenBLAS kernels: only for generic kernels on a
/// wider CPU, never over the operator's choice, and once at most.
@Suite struct BLASKernelSwitchTests {
    static let wide: Set<String> = ["avx2", "fma", "avx512f"]

    @Test func genericKernelsOnAWiderCPUAreSwitchedToHaswell() {
        #expect(BLASKernelSwitch.step(environment: [:], coreName: "Prescott", cpuFlags: Self.wide)
                == .reexecute(kernels: "Haswell"))
        #expect(BLASKernelSwitch.step(environment: ["PATH": "/usr/bin"], coreName: "Nehalem", cpuFlags: ["avx2", "fma"])
                == .reexecute(kernels: "Haswell"))
    }

    @Test func fittingKernelsANarrowCPUOrTheOperatorsChoiceAreKept() {
        #expect(BLASKernelSwitch.step(environment: [:], coreName: "Haswell", cpuFlags: Self.wide) == .keep)
        #expect(BLASKernelSwitch.step(environment: [:], coreName: "SkylakeX", cpuFlags: Self.wide) == .keep)
        #expect(BLASKernelSwitch.step(environment: [:], coreName: "Prescott", cpuFlags: ["sse3", "avx"]) == .keep)
        #expect(BLASKernelSwitch.step(environment: ["OPENBLAS_CORETYPE": "Prescott"], coreName: "Prescott", cpuFlags: Self.wide) == .keep)
    }

    @Test func theReexecutedImageNeverExecutesAgain() {
        // even if OpenBLAS still runs generic kernels there (e.g. a build without Haswell kernels)
        let env = ["ADAPTERD_BLAS_REEXECUTED_FROM": "Prescott", "OPENBLAS_CORETYPE": "Haswell"]
        #expect(BLASKernelSwitch.step(environment: env, coreName: "Prescott", cpuFlags: Self.wide) == .reexecuted(from: "Prescott"))
        #expect(BLASKernelSwitch.step(environment: env, coreName: "Haswell", cpuFlags: Self.wide) == .reexecuted(from: "Prescott"))
    }
}
