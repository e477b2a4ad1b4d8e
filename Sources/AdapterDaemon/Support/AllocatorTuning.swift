import Foundation

/// glibc malloc settings for a process that decodes, merges and frees matrices of tens of MiB on
/// several threads: at most two arenas, blocks up to 32 MiB from the heap rather than from their own
/// mmap, and no automatic trimming. Otherwise every decoded adapter and every merge takes fresh pages
/// from the kernel (a page fault and a zeroed page each 4 KiB) and gives them back on free; glibc
/// makes up to 8 arenas per core, each a 64 MiB heap that is unmapped whenever it empties. Freed
/// memory still goes back to the system: `MemoryTrim` trims explicitly once a burst of changes is
/// planned. Two arenas rather than one: one faulted least but slowed a re-cluster of small adapters by
/// lock contention (docs/PERFORMANCE.md has the measurements).
///
/// Applied once per process (`inForce`), only when the operator has not set `GLIBC_TUNABLES` for malloc
/// (their settings win). The arena limit holds for arenas made after it, so `adapterd` (and
/// `adapterd-bench`, which hosts the daemon) read `inForce` first thing in `main`, before other threads
/// allocate.
public enum AllocatorTuning {
    /// mallopt's parameters (malloc.h; not in the Glibc module).
    private enum Parameter: Int32 {
        case trimThreshold = -1
        case mmapThreshold = -3
        case arenaMax = -8
    }

    /// Blocks at most this large come from the heap: glibc's ceiling for the threshold on 64-bit.
    static let mmapThreshold: Int32 = 32 << 20
    /// Free memory at the heap's top is kept up to this much between explicit trims.
    static let trimThreshold: Int32 = .max

    /// The settings this process runs with, applied on first use; nil: glibc's own (not glibc, or the
    /// operator's tunables).
    public static let inForce: [String]? = apply(environment: ProcessInfo.processInfo.environment)

    /// The settings applied, or nil when they were not (not glibc, or the operator's tunables).
    @discardableResult
    static func apply(environment: [String: String]) -> [String]? {
        #if canImport(Glibc)
        if let tunables = environment["GLIBC_TUNABLES"], tunables.contains("glibc.malloc.") { return nil }
        guard let mallopt = GlibcMalloc.mallopt else { return nil }
        var applied: [String] = []
        for (parameter, value, name) in [(Parameter.arenaMax, Int32(2), "arena_max=2"),
                                         (.mmapThreshold, mmapThreshold, "mmap_threshold=32MiB"),
                                         (.trimThreshold, trimThreshold, "trim_threshold=2GiB")]
        where mallopt(parameter.rawValue, value) == 1 {
            applied.append(name)
        }
        return applied
        #else
        return nil
        #endif
    }
}
