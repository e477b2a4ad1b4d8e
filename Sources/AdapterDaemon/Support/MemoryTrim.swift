/// Gives memory a change freed back to the system. An install or re-cluster allocates and frees
/// hundreds of MiB (frames, decoded weights, merges) on several threads; glibc keeps the freed pages
/// in its arenas, so without this the daemon's resident size stays at its largest change's peak.
enum MemoryTrim {
    /// Calls glibc's `malloc_trim(0)` (a no-op where it does not exist).
    static func releaseFreedMemory() {
        #if canImport(Glibc)
        _ = GlibcMalloc.mallocTrim?(0)
        #endif
    }
}
