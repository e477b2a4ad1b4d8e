import Testing
@testable import BLASKernels

/// When adapterd executes itself again for fitting OpenBLAS kernels: only for generic kernels on a
/// wider CPU, never over the operator's choice, and once at most.
@Suite struct BLASKernelSwitchTests {
    static let wide: Set<String> = ["avx2", "fma", "avx512f"]
    static let avx512: Set<String> = ["avx2", "fma", "avx512f", "avx512vl", "avx512bw", "avx512dq", "avx512cd"]

    @Test func genericKernelsOnAWiderCPUAreSwitchedToTheWidestThatFit() {
        // AVX-512 foundation alone is not enough for the SkylakeX kernels (built for F/VL/BW/DQ/CD)
        #expect(BLASKernelSwitch.step(environment: [:], coreName: "Prescott", cpuFlags: Self.wide)
                == .reexecute(kernels: "Haswell"))
        #expect(BLASKernelSwitch.step(environment: [:], coreName: "Prescott", cpuFlags: Self.avx512)
                == .reexecute(kernels: "SkylakeX"))
        #expect(BLASKernelSwitch.step(environment: [:], coreName: "Prescott", cpuFlags: Self.avx512.subtracting(["avx512bw"]))
                == .reexecute(kernels: "Haswell"))
        #expect(BLASKernelSwitch.step(environment: ["PATH": "/usr/bin"], coreName: "Nehalem", cpuFlags: ["avx2", "fma"])
                == .reexecute(kernels: "Haswell"))
    }

    @Test func fittingKernelsANarrowCPUOrTheOperatorsChoiceAreKept() {
        #expect(BLASKernelSwitch.step(environment: [:], coreName: "Haswell", cpuFlags: Self.wide) == .keep)
        #expect(BLASKernelSwitch.step(environment: [:], coreName: "SkylakeX", cpuFlags: Self.avx512) == .keep)
        #expect(BLASKernelSwitch.step(environment: [:], coreName: "Haswell", cpuFlags: Self.avx512) == .keep)
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
