/// A content fingerprint of an in-memory adapter (module names, shapes, scales and the exact bits of
/// every factor), used to key cached evaluations when no file digest is at hand. Two 64-bit FNV-1a
/// style streams with different bases make a 128-bit value, printed as 32 hex digits. Not a
/// cryptographic hash: a cache key, where the store's sha256 identifies files.
public enum AdapterFingerprint {
    public static func of(_ adapter: LoRAAdapter) -> String {
        var h1: UInt64 = 0xCBF2_9CE4_8422_2325
        var h2: UInt64 = 0x6A09_E667_F3BC_C909
        @inline(__always) func mix(_ word: UInt64) {
            h1 = (h1 ^ word) &* 0x0000_0100_0000_01B3
            h2 = (h2 ^ (word &+ 0x9E37_79B9_7F4A_7C15)) &* 0xFF51_AFD7_ED55_8CCD
            h2 ^= h2 >> 29
        }
        mix(UInt64(adapter.modules.count))
        for module in adapter.modules {
            for byte in module.name.utf8 { mix(UInt64(byte)) }
            mix(UInt64(module.rank)); mix(UInt64(module.inFeatures)); mix(UInt64(module.outFeatures))
            mix(module.scale.bitPattern)
            for x in module.a.elements { mix(x.bitPattern) }
            for x in module.b.elements { mix(x.bitPattern) }
        }
        return hex(h1) + hex(h2)
    }

    private static func hex(_ x: UInt64) -> String {
        let digits = String(x, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
