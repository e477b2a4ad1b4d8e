import Foundation
import Testing
@testable import BLASKernels

/// The start-up note about OpenBLAS kernels narrower than the CPU: given where OpenBLAS fell back to
/// its generic kernels on a CPU with AVX2, never where the kernels fit or the CPU has nothing wider.
@Suite struct BLASKernelCheckTests {
    static let cpuinfo = """
        processor\t: 0
        vendor_id\t: GenuineIntel
        model name\t: Intel(R) Xeon(R) Processor
        flags\t\t: fpu sse2 ssse3 fma avx avx2 avx512f avx512cd avx512dq avx512bw avx512vl
        processor\t: 1
        flags\t\t: fpu sse2
        """

    /// The flags of the first processor in a /proc/cpuinfo text.
    static func cpuFlags(cpuinfo: String) -> Set<String> {
        for line in cpuinfo.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == "flags" else { continue }
            return Set(parts[1].split(separator: " ").map(String.init))
        }
        return []
    }

    @Test func theCPUIDProbeAgreesWithProcCpuinfo() throws {
        let text = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let listed = Self.cpuFlags(cpuinfo: text)
            .intersection(["avx2", "fma", "avx512f", "avx512vl", "avx512bw", "avx512dq", "avx512cd"])
        #expect(BLASKernelCheck.vectorUnitFlags == listed)
        #expect(BLASKernelCheck.cpuFlags(vectorUnits: 5) == ["avx2", "avx512f"])
        #expect(BLASKernelCheck.cpuFlags(vectorUnits: 0x7f) == ["avx2", "fma", "avx512f", "avx512vl", "avx512bw", "avx512dq", "avx512cd"])
    }

    @Test func genericKernelsOnAWiderCPUGetTheSettingThatFits() throws {
        let flags = Self.cpuFlags(cpuinfo: Self.cpuinfo)
        let note = try #require(BLASKernelCheck.note(coreName: "Prescott", cpuFlags: flags))
        #expect(note.contains("'Prescott'"))
        #expect(note.contains("OPENBLAS_CORETYPE=SkylakeX"))
        let avx2Only = try #require(BLASKernelCheck.note(coreName: "Nehalem", cpuFlags: ["avx", "avx2", "fma", "avx512f"]))
        #expect(avx2Only.contains("OPENBLAS_CORETYPE=Haswell"))
        #expect(!avx2Only.contains("SkylakeX"))
    }

    @Test func fittingKernelsOrANarrowCPUGiveNoNote() {
        let flags = Self.cpuFlags(cpuinfo: Self.cpuinfo)
        #expect(BLASKernelCheck.note(coreName: "SkylakeX", cpuFlags: flags) == nil)
        #expect(BLASKernelCheck.note(coreName: "Haswell", cpuFlags: flags) == nil)
        #expect(BLASKernelCheck.note(coreName: "Zen", cpuFlags: flags) == nil)
        #expect(BLASKernelCheck.note(coreName: "Prescott", cpuFlags: ["sse2", "sse3", "avx"]) == nil)
    }
}
