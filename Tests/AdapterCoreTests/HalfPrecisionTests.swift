import Foundation
import Testing
@testable import AdapterCore

/// The bulk decoders give exactly the values of the scalar conversions, for every 16-bit pattern, and
/// flag NaN and infinity in the same pass.
@Suite struct HalfPrecisionTests {
    static func bulk(_ dtype: DType, _ bytes: [UInt8], count: Int, hardware: Bool = true) -> ([Double], Bool) {
        var out = [Double](repeating: 0, count: count)
        let special = bytes.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer {
                HalfPrecision.decode(dtype, from: raw.baseAddress!, count: count, into: $0.baseAddress!, hardware: hardware)
            }
        }
        return (out, special)
    }

    static func sameValue(_ x: Double, _ y: Double) -> Bool {
        x.isNaN ? y.isNaN : x.bitPattern == y.bitPattern
    }

    /// F16 both ways: the CPU's F16C conversion (where it has one) and the portable loop.
    @Test(arguments: [(DType.f16, true), (.f16, false), (.bf16, true)])
    func everySixteenBitPatternDecodesLikeTheScalarConversion(dtype: DType, hardware: Bool) {
        let patterns = (0...UInt16.max).map { $0 }
        let bytes = patterns.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        let (values, _) = Self.bulk(dtype, bytes, count: patterns.count, hardware: hardware)
        var mismatches = 0
        for (bits, value) in zip(patterns, values) {
            let expected = Double(dtype == .f16 ? HalfPrecision.float(fromF16: bits) : HalfPrecision.float(fromBF16: bits))
            if !Self.sameValue(value, expected) { mismatches += 1 }
        }
        #expect(mismatches == 0)
        // The flag: set by any NaN or infinity, and only by them.
        for bits in patterns where bits % 61 == 0 || [0x7C00, 0xFC00, 0x7F80, 0x7BFF, 0x7F7F, 0x0001].contains(bits) {
            let (one, special) = Self.bulk(dtype, [UInt8(bits & 0xFF), UInt8(bits >> 8)], count: 1, hardware: hardware)
            #expect(special == !one[0].isFinite, "\(dtype) bits \(String(bits, radix: 16))")
        }
        // A special value in a 16-value step of the vector code, not only in its tail.
        for position in [0, 7, 15, 16, 31, 40] {
            var run = [UInt16](repeating: 0x3C00, count: 41)
            run[position] = 0x7C00
            let (decoded, special) = Self.bulk(dtype, run.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }, count: run.count,
                                               hardware: hardware)
            #expect(special == (dtype == .f16), "\(dtype) ∞ at \(position)")
            #expect(decoded.filter { $0 == 1 }.count == (dtype == .f16 ? 40 : 0))
        }
    }

    /// The bulk F16 encoder gives `Float16(value)`'s bits (round to nearest even) for every F16 value,
    /// every midpoint between neighbours (ties) and the doubles just beside them, subnormals included,
    /// and random doubles over the whole range; values F16 cannot hold finitely are flagged.
    @Test func f16EncodingRoundsLikeTheScalarConversion() {
        var inputs: [Double] = [0, -0.0, 65504, 65519.99, 0x1p-25, 0x1p-26, 0x1.8p-25, -0x1p-24, 1e-30, -1e-300]
        for bits in UInt16(0)...UInt16.max {
            let h = Float16(bitPattern: bits)
            guard h.isFinite else { continue }
            let x = Double(h)
            inputs.append(x)
            let next = Double(h.nextUp)
            if next.isFinite {
                let middle = (x + next) / 2
                inputs += [middle, middle.nextUp, middle.nextDown]
            }
        }
        var generator = SeededGenerator(seed: 17)
        for _ in 0..<200_000 {
            let exponent = Double.random(in: -40...17, using: &generator)
            inputs.append((Bool.random(using: &generator) ? 1 : -1) * Double.random(in: 1..<2, using: &generator) * pow(2, exponent.rounded(.down)))
        }
        var mismatches = 0
        for x in inputs {
            let expected = Float16(x)
            let bits = HalfPrecision.f16Bits(from: x)
            if expected.isFinite ? bits != expected.bitPattern : bits & 0x7C00 != 0x7C00 { mismatches += 1 }
        }
        #expect(mismatches == 0)
        #expect(inputs.count > 300_000)
        // The bulk encoder (C, vectorised where the CPU allows) gives f16Bits of every input.
        var bulk = [UInt8](repeating: 0, count: 2 * inputs.count)
        _ = bulk.withUnsafeMutableBytes { raw in
            inputs.withUnsafeBufferPointer { HalfPrecision.encodeF16($0.baseAddress!, count: inputs.count, into: raw.baseAddress!) }
        }
        let bulkMismatches = inputs.indices.filter { i in
            UInt16(bulk[2 * i]) | UInt16(bulk[2 * i + 1]) << 8 != HalfPrecision.f16Bits(from: inputs[i])
        }
        #expect(bulkMismatches.count == 0, "first: \(bulkMismatches.prefix(3).map { inputs[$0] })")
        // The bulk pass flags exactly the inputs F16 cannot hold.
        for (values, flagged) in [([1.0, -2.5, 65504], false), ([1.0, 65520], true), ([.nan], true), ([-.infinity, 0], true),
                                  ([1e5], true), ([6e-8, -0x1p-24], false)] as [([Double], Bool)] {
            var out = [UInt8](repeating: 0, count: 2 * values.count)
            let special = out.withUnsafeMutableBytes { raw in
                values.withUnsafeBufferPointer { HalfPrecision.encodeF16($0.baseAddress!, count: values.count, into: raw.baseAddress!) }
            }
            #expect(special == flagged, "\(values)")
        }
    }

    @Test func f32DecodesExactlyAndFlagsNonFinite() {
        let values: [Float] = [0, -0, 1, -2.5, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 3.1415927, -1e-30]
        let bytes = values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
        let (decoded, special) = Self.bulk(.f32, bytes, count: values.count)
        #expect(!special)
        #expect(zip(values, decoded).allSatisfy { Double($0).bitPattern == $1.bitPattern })
        for bad in [Float.infinity, -.infinity, .nan] {
            let more = bytes + withUnsafeBytes(of: bad.bitPattern.littleEndian) { Array($0) }
            #expect(Self.bulk(.f32, more, count: values.count + 1).1)
        }
    }

    @Test func checkedMatrixReportsTheFirstNonFiniteElement() throws {
        let finite = LoRAModule(name: "m", layer: nil, projection: nil,
                                a: Matrix(rows: 2, cols: 3, elements: [1, 2, 3, 4, 5, 6]),
                                b: Matrix(rows: 2, cols: 2, elements: [0.5, -0.25, 1, 2]), scale: 1)
        for dtype in DType.allCases {
            var writer = SafeTensorsWriter()
            try writer.add("ok", matrix: finite.a, dtype: dtype)
            let data = writer.serialized()
            var bytes = [UInt8](data)
            // Overwrite element 4 (row 1, column 1) with +∞ in the tensor's encoding.
            let width = dtype.byteSize
            let infinity: [UInt8] = dtype == .f32 ? [0, 0, 0x80, 0x7F] : dtype == .f16 ? [0, 0x7C] : [0x80, 0x7F]
            let start = bytes.count - 6 * width + 4 * width
            bytes.replaceSubrange(start..<(start + width), with: infinity)
            let file = try SafeTensorsFile(data: Data(bytes))
            let (matrix, first) = try file.checkedMatrix("ok")
            #expect(first == 4, "\(dtype)")
            #expect(matrix[1, 1] == .infinity && matrix[0, 2] == 3)
            #expect(try SafeTensorsFile(data: data).checkedMatrix("ok").firstNonFinite == nil)
        }
    }
}
