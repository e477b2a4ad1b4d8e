import CHalfPrecision

/// Conversions between `Double` and the 16-bit float encodings safetensors stores.
///
/// The bulk decoders turn a tensor's little-endian bytes into `Double`s in one pass, straight from the
/// (mapped) file into the matrix the math uses, and report in the same pass whether any value is NaN
/// or infinite. They are branch-free bit manipulations that the compiler vectorises (no per-element
/// call: Swift's `Float16` → `Float` conversion is a library call on x86-64 without F16C) and give
/// exactly the values of the scalar conversions below.
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

    /// F16 bits → Double without a library call: normal numbers, infinities and NaNs by moving the
    /// exponent and mantissa into place and re-biasing the exponent (15 → 1023, 31 → 2047); subnormals
    /// (and zero) as mantissa · 2⁻²⁴, which is exact.
    @inline(__always)
    static func double(fromF16 bits: UInt16) -> Double {
        let h = UInt64(bits)
        let magnitude = h & 0x7FFF
        let sign = (h & 0x8000) &<< 48
        let moved = (magnitude &<< 42) &+ (1008 &<< 52)
        let normal = magnitude >= 0x7C00 ? moved &+ (1008 &<< 52) : moved
        let subnormal = (Double(Int32(truncatingIfNeeded: magnitude)) * 0x1p-24).bitPattern
        return Double(bitPattern: (magnitude < 0x0400 ? subnormal : normal) | sign)
    }

    /// Double → F16 bits, rounding to nearest even, without a library call (Swift's `Float16(Double)` is
    /// one per element on x86-64): the same bits as `Float16(value).bitPattern` for every finite input.
    /// Normal results: re-bias the exponent (1023 → 15) and round the 42 dropped mantissa bits, the
    /// carry moving into the exponent (up to ∞ from 65520 on); subnormal results (|value| < 2⁻¹⁴):
    /// one floating-point addition to 2²⁸, whose ulp is the subnormal step 2⁻²⁴, rounds them. Inputs
    /// at or above 2¹⁶, ∞ and NaN give ∞ (0x7C00), which callers treat as not representable.
    @inline(__always)
    static func f16Bits(from value: Double) -> UInt16 {
        let bits = value.bitPattern
        let sign = UInt16(truncatingIfNeeded: bits &>> 48) & 0x8000
        let magnitude = bits & 0x7FFF_FFFF_FFFF_FFFF
        let odd = (magnitude &>> 42) & 1
        let normal = (magnitude &- (1008 &<< 52) &+ 0x1FF_FFFF_FFFF &+ odd) &>> 42
        let magic = 0x41B0_0000_0000_0000 as UInt64   // 2²⁸
        let subnormal = (Double(bitPattern: magnitude) + Double(bitPattern: magic)).bitPattern &- magic
        let rounded = magnitude < 0x3F10_0000_0000_0000 ? subnormal : normal
        let result = magnitude >= 0x40F0_0000_0000_0000 ? 0x7C00 : rounded
        return sign | UInt16(truncatingIfNeeded: result)
    }

    /// Encodes `count` doubles as little-endian F16 at `destination`: `f16Bits` of each, by the C loop
    /// (CHalfPrecision) vectorised for AVX2 where the CPU has it (this package is built for baseline
    /// x86-64, whose vector code for it is SSE2).
    /// - Returns: whether any encoded value is not finite (NaN, ∞, or beyond F16's range).
    static func encodeF16(_ source: UnsafePointer<Double>, count: Int, into destination: UnsafeMutableRawPointer) -> Bool {
        chalfprecision_f64_to_f16(source, count, destination) != 0
    }

    /// Decodes `count` little-endian values of `dtype` starting at `source` into `destination`; F16 by
    /// the CPU's F16C conversion where it has one (`hardware`; false: the portable loop, for tests).
    /// - Returns: whether any decoded value is NaN or infinite (exponent all ones).
    static func decode(_ dtype: DType, from source: UnsafeRawPointer, count: Int,
                       into destination: UnsafeMutablePointer<Double>, hardware: Bool = true) -> Bool {
        switch dtype {
        case .f16:
            // F16C where the CPU has it: the package is built for baseline x86-64, whose vector code
            // for this loop is SSE2 bit manipulations (docs/PERFORMANCE.md, Loading).
            let converted = hardware ? chalfprecision_f16_to_f64(source, count, destination) : -1
            if converted >= 0 { return converted == 1 }
            return decode(source, count: count, into: destination, exponentMask: UInt16(0x7C00), double(fromF16:))
        case .bf16:
            return decode(source, count: count, into: destination, exponentMask: UInt16(0x7F80)) {
                Double(Float(bitPattern: UInt32($0) &<< 16))
            }
        case .f32:
            return decode(source, count: count, into: destination, exponentMask: UInt32(0x7F80_0000)) {
                Double(Float(bitPattern: $0))
            }
        }
    }

    /// `count` little-endian values of `dtype` at `source` decoded into a new array (`decode`), and
    /// whether any is NaN or ∞.
    static func doubles(_ dtype: DType, from source: UnsafeRawPointer?, count: Int) -> (values: [Double], special: Bool) {
        var special = false
        let values = [Double](unsafeUninitializedCapacity: count) { out, initialized in
            if count > 0, let source, let destination = out.baseAddress {
                special = decode(dtype, from: source, count: count, into: destination)
            }
            initialized = count
        }
        return (values, special)
    }

    /// Whether any of `count` little-endian values of `dtype` at `source` is NaN or infinite, from
    /// their exponent fields alone (the check `decode` makes, without decoding). Four F16/BF16 values
    /// (two F32) are tested at once in a 64-bit word, by the same carry as `decode` in each lane: a
    /// lane's exponent field plus its lowest bit stays below the lane's sign bit unless the field is all
    /// ones (`chalfprecision_any_exponent_all_ones`, AVX2 where the CPU has it). The values past the
    /// last whole word are tested in a word padded with zeros (finite).
    static func containsNonFinite(_ dtype: DType, at source: UnsafeRawPointer, count: Int) -> Bool {
        let (lane, exponent): (UInt64, UInt64) = switch dtype {
        case .f16: (0x0001_0001_0001_0001, 0x7C00)
        case .bf16: (0x0001_0001_0001_0001, 0x7F80)
        case .f32: (0x0000_0001_0000_0001, 0x7F80_0000)
        }
        let mask = lane &* exponent
        let lowest = lane &* (exponent & (0 &- exponent))
        let signs = lane &* (dtype == .f32 ? 0x8000_0000 : 0x8000)
        let bytes = count * dtype.byteSize
        let words = bytes / 8
        var special: UInt64 = chalfprecision_any_exponent_all_ones(source, words, mask, lowest, signs) != 0 ? signs : 0
        var tail: UInt64 = 0
        withUnsafeMutableBytes(of: &tail) { $0.copyMemory(from: UnsafeRawBufferPointer(start: source + words * 8, count: bytes - words * 8)) }
        special |= ((UInt64(littleEndian: tail) & mask) &+ lowest) & signs
        return special != 0
    }

    /// The one bulk loop: each little-endian `Bits` value converted by `value`, and NaN or ∞ spotted
    /// branch-free from its exponent field (all ones ⟺ adding the field's lowest bit carries into the
    /// sign bit).
    @inline(__always)
    private static func decode<Bits: FixedWidthInteger & UnsignedInteger>(
        _ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Double>,
        exponentMask: Bits, _ value: (Bits) -> Double
    ) -> Bool {
        let signBit: Bits = 1 &<< (Bits.bitWidth - 1)
        let lowestExponentBit = exponentMask & (0 &- exponentMask)
        var special: Bits = 0
        var i = 0
        while i < count {
            let bits = Bits(littleEndian: source.loadUnaligned(fromByteOffset: i &* MemoryLayout<Bits>.size, as: Bits.self))
            special |= ((bits & exponentMask) &+ lowestExponentBit) & signBit
            destination[i] = value(bits)
            i &+= 1
        }
        return special != 0
    }
}
