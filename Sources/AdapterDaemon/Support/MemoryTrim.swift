#if canImport(Glibc)
import Glibc
#endif

/// Gives memory a change freed back to the system. An install or re-cluster allocates and frees
/// hundreds of MiB (frames, decoded weights, merges) on several threads; glibc keeps the freed pages
/// in its arenas, so without this the daemon's resident size stays at its largest change's peak.
enum MemoryTrim {
    /// Calls glibc's `malloc_trim(0)` (a no-op where it does not exist).
    static func releaseFreedMemory() {
        #if canImport(Glibc)
        _ = mallocTrim?(0)
        #endif
    }

    #if canImport(Glibc)
    /// glibc's `malloc_trim` (malloc.h is not in the Glibc module), looked up once.
    private static let mallocTrim: (@convention(c) (Int) -> Int32)? = dlsym(nil, "malloc_trim")
        .map { unsafeBitCast($0, to: (@convention(c) (Int) -> Int32).self) }
    #endif
}
