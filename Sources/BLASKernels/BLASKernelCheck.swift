import AdapterCore
import CCPUFeatures

/// Whether OpenBLAS runs kernels that fit this CPU.
///
/// A `DYNAMIC_ARCH` OpenBLAS picks its kernels from the CPU model; a model it does not know (newer than
/// the build, or a virtual machine reporting a generic "Intel(R) Xeon(R) Processor") can get kernels
/// without AVX2, such as the SSE3 "Prescott" set. Debian 12's OpenBLAS 0.3.21 does this on the machine
/// of docs/PERFORMANCE.md, where the 3B-shaped merge and re-cluster then take 1.7–1.8× as long as with
/// `OPENBLAS_CORETYPE=Haswell`, and behavioural screening 3–4× as long as with `SkylakeX`. OpenBLAS
/// reads that variable only when it is loaded: adapterd and adapterctl's screening commands switch by
/// executing themselves again (`BLASKernelSwitch`); adapterd-bench prints this note instead, so that its
/// figures stay comparable run to run.
public enum BLASKernelCheck {
    /// Kernel sets without AVX2 (OpenBLAS's names, as `openblas_get_corename` reports them; lower case).
    static let genericKernels: Set<String> = [
        "prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "northwood", "banias", "katmai",
        "coppermine", "sandybridge", "unknown",
    ]

    /// The AVX-512 subsets OpenBLAS's "SkylakeX" kernels are built for.
    static let skylakeXUnits: Set<String> = ["avx512f", "avx512vl", "avx512bw", "avx512dq", "avx512cd"]

    /// The widest of OpenBLAS's kernel sets this CPU runs (`cpuFlags`, as /proc/cpuinfo names them):
    /// "SkylakeX" with the AVX-512 subsets it is built for, "Haswell" with AVX2 and FMA, else nil.
    static func fittingKernels(cpuFlags: Set<String>) -> String? {
        if skylakeXUnits.isSubset(of: cpuFlags) { return "SkylakeX" }
        return cpuFlags.contains("avx2") && cpuFlags.contains("fma") ? "Haswell" : nil
    }

    /// The kernels to run instead of `coreName`: the fitting set when `coreName` is a generic one and
    /// the CPU has wider vector units; nil when the kernels fit, or when the CPU has nothing wider.
    static func betterKernels(coreName: String, cpuFlags: Set<String>) -> String? {
        genericKernels.contains(coreName.lowercased()) ? fittingKernels(cpuFlags: cpuFlags) : nil
    }

    /// A warning when `coreName` lacks vector units the CPU has (`cpuFlags`); nil when the kernels fit,
    /// or when the CPU has no AVX2 and FMA to offer.
    static func note(coreName: String, cpuFlags: Set<String>) -> String? {
        guard let fitting = betterKernels(coreName: coreName, cpuFlags: cpuFlags) else { return nil }
        let units = fitting == "SkylakeX" ? "AVX-512" : "AVX2 and FMA"
        return "OpenBLAS runs its '\(coreName)' kernels, which use no AVX2, on a CPU with \(units): "
            + "it did not recognise this CPU model, and merging and planning can take about twice as long as they "
            + "need, behavioural screening three to four times. Set OPENBLAS_CORETYPE=\(fitting) in the environment "
            + "(adapterd and adapterctl's screening commands do so by themselves unless the variable is set); "
            + "'adapterd-bench merge' shows the kernel and the time."
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
        if bits & 8 != 0 { flags.insert("avx512vl") }
        if bits & 16 != 0 { flags.insert("avx512bw") }
        if bits & 32 != 0 { flags.insert("avx512dq") }
        if bits & 64 != 0 { flags.insert("avx512cd") }
        return flags
    }
}
