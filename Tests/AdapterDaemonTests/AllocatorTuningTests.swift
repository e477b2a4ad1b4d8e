@testable import AdapterDaemon
import Testing

@Suite("Allocator tuning")
struct AllocatorTuningTests {
    /// glibc takes the three settings (mallopt answers 1 for each); elsewhere nothing is applied.
    @Test func glibcTakesTheDaemonsSettings() {
        let applied = AllocatorTuning.apply(environment: [:])
        #if canImport(Glibc)
        #expect(applied == ["arena_max=2", "mmap_threshold=32MiB", "trim_threshold=2GiB"])
        #else
        #expect(applied == nil)
        #endif
    }

    /// An operator's own malloc tunables win: nothing is applied over them. Tunables of other
    /// subsystems do not count.
    @Test func theOperatorsMallocTunablesWin() {
        #expect(AllocatorTuning.apply(environment: ["GLIBC_TUNABLES": "glibc.malloc.arena_max=4"]) == nil)
        #expect(AllocatorTuning.apply(environment: ["GLIBC_TUNABLES": "glibc.pthread.rseq=0:glibc.malloc.trim_threshold=1"]) == nil)
        #if canImport(Glibc)
        #expect(AllocatorTuning.apply(environment: ["GLIBC_TUNABLES": "glibc.pthread.rseq=0"])?.count == 3)
        #endif
    }
}
