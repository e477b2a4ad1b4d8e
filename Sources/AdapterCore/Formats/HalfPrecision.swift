/// Conversions between `Double` and the 16-bit float encodings safetensors stores.
enum HalfPrecision {
    /// BF16 bits → Float: BF16 is the upper half of an IEEE-754 binary32.
    @inline(__always)
    static func float(fromBF16 bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// Float → BF16 bits, rounding to nearest even. NaN stays NaN.
    @inline(__always)
    static func bf16Bits(from value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: (bits >> 16) | 0x0040) }
        let roundingBias = UInt32(0x7FFF) &+ ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: (bits &+ roundingBias) >> 16)
    }

    /// F16 bits → Float through Swift's `Float16`.
    @inline(__always)
    static func float(fromF16 bits: UInt16) -> Float {
        Float(Float16(bitPattern: bits))
    }
}
