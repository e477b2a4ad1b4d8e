#if canImport(Glibc)
import Glibc

/// glibc's malloc controls, which malloc.h declares and the Glibc module does not: looked up once by
/// name (nil where the C library lacks them).
enum GlibcMalloc {
    /// `int mallopt(int param, int value)`: 1 when the setting is taken.
    static let mallopt: (@convention(c) (Int32, Int32) -> Int32)? = function("mallopt")
    /// `int malloc_trim(size_t pad)`: gives free memory back to the system.
    static let mallocTrim: (@convention(c) (Int) -> Int32)? = function("malloc_trim")

    private static func function<F>(_ name: String) -> F? {
        dlsym(nil, name).map { unsafeBitCast($0, to: F.self) }
    }
}
#endif
