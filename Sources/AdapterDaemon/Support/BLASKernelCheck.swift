import AdapterCore
import CCPUFeatures

/// Whether OpenBLAS runs kernels that fit this CPU.
///
/// A `DYNAMIC_ARCH` OpenBLAS picks its kernels from the CPU model; a model newer than the build (or
/// one a virtual machine reports as a generic "Intel Xeon Processor") gets the generic SSE3 kernels,
/// "Prescott". Debian 12's OpenBLAS 0.3.21 does this on current Xeons: merging and planning then run
/// 2–2.5× slower than with the AVX2 kernels (`adapterd-bench merge`, docs/PERFORMANCE.md). OpenBLAS
/// reads `OPENBLAS_CORETYPE` only when it is loaded, so the daemon cannot switch by itself; it says
/// so at start, with the setting that fits, and leaves the choice to the operator.
public enum BLASKernelCheck {
    /// Kernel sets without AVX2 (OpenBLAS's names, as `openblas_get_corename` reports them).
    static let genericKernels: Set<String> = [
        "prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "northwood", "banias", "katmai",
        "coppermine", "sandybridge", "unknown",
    ]

    /// A warning when `coreName` lacks vector units the CPU has (`cpuFlags`, as /proc/cpuinfo names them); nil
    /// when the kernels fit, or when the CPU has no AVX2 and FMA to offer.
    static func note(coreName: String, cpuFlags: Set<String>) -> String? {
        guard genericKernels.contains(coreName.lowercased()), cpuFlags.contains("avx2"), cpuFlags.contains("fma") else {
            return nil
        }
        let wider = cpuFlags.contains("avx512f") ? " (AVX-512: SkylakeX also fits)" : ""
        return "OpenBLAS runs its generic '\(coreName)' kernels on a CPU with AVX2 and FMA\(wider): it did not "
            + "recognise this CPU model, and merging and planning run about 2× slower than they could. Set "
            + "OPENBLAS_CORETYPE=Haswell in adapterd's environment (systemctl edit adapterd: "
            + "Environment=OPENBLAS_CORETYPE=Haswell); 'adapterd-bench merge' shows the kernel and the time."
    }

    /// The note for this process's OpenBLAS and CPU.
    public static func currentNote() -> String? {
        note(coreName: BLASThreads.coreName, cpuFlags: vectorUnitFlags)
    }

    /// This CPU's vector units (CPUID), named as /proc/cpuinfo names them.
    static var vectorUnitFlags: Set<String> { cpuFlags(vectorUnits: ccpufeatures_vector_units()) }

    /// The flags (/proc/cpuinfo's names) of `ccpufeatures_vector_units`' bits.
    static func cpuFlags(vectorUnits bits: Int32) -> Set<String> {
        var flags = Set<String>()
        if bits & 1 != 0 { flags.insert("avx2") }
        if bits & 2 != 0 { flags.insert("fma") }
        if bits & 4 != 0 { flags.insert("avx512f") }
        return flags
    }
}
