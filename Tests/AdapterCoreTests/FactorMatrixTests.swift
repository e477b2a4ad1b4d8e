import Foundation
import Testing
@testable import AdapterCore

/// Factors kept in their file's dtype give the math exactly the doubles a decode at load gave, and
/// everything read from them without decoding (shape, zeros, non-finite values, row slices, equality)
/// agrees with the decoded values.
@Suite struct FactorMatrixTests {
    /// Little-endian bytes of `values` in `dtype` (values chosen representable in it).
    static func encoded(_ values: [Double], _ dtype: DType) -> [UInt8] {
        values.flatMap { v -> [UInt8] in
            switch dtype {
            case .f32: return withUnsafeBytes(of: Float(v).bitPattern.littleEndian, Array.init)
            case .f16: return withUnsafeBytes(of: HalfPrecision.f16Bits(from: v).littleEndian, Array.init)
            case .bf16: return withUnsafeBytes(of: HalfPrecision.bf16Bits(from: Float(v)).littleEndian, Array.init)
            }
        }
    }

    static let values: [Double] = [1, -0.5, 0.25, 3, -2, 0.125, 0, -0.0, 6.103515625e-05, 5.9604644775390625e-08, 1.5, -7]

    @Test(arguments: DType.allCases)
    func encodedFactorDecodesToTheValuesAndSlicesLikeTheDecodedOne(dtype: DType) throws {
        // 5.96e-8 is F16's smallest subnormal; BF16 and F32 hold it too.
        let factor = FactorMatrix(rows: 4, cols: 3, dtype: dtype, bytes: Data(Self.encoded(Self.values, dtype)))
        let dense = FactorMatrix(Matrix(rows: 4, cols: 3, elements: Self.values))
        #expect(factor.matrix.elements.map(\.bitPattern) == Self.values.map(\.bitPattern))
        #expect(factor.encodedDType == dtype && dense.encodedDType == nil)
        #expect(factor.memoryBytes == 12 * dtype.byteSize && dense.memoryBytes == 12 * 8)
        #expect(factor == dense)
        for rows in [0..<4, 1..<3, 3..<4, 2..<2] {
            let slice = factor.rows(rows)
            #expect(slice.encodedDType == dtype)
            #expect(slice.matrix == dense.rows(rows).matrix)
            #expect(slice.matrix.elements == Array(Self.values[(rows.lowerBound * 3)..<(rows.upperBound * 3)]))
        }
        // A slice of a larger buffer (as the loader keeps them: its factors share the file's bytes).
        let padded = Data([9, 9, 9] + Self.encoded(Self.values, dtype) + [9])
        let shared = FactorMatrix(rows: 4, cols: 3, dtype: dtype, bytes: padded[3..<(padded.count - 1)])
        #expect(shared == factor && shared.rows(1..<3).matrix == dense.rows(1..<3).matrix)
        #expect(shared.rows(2..<4).rows(1..<2).matrix.elements == Array(Self.values[9..<12]))
        var changed = Self.values
        changed[5] = 0.375
        #expect(factor != FactorMatrix(Matrix(rows: 4, cols: 3, elements: changed)))
        #expect(factor != FactorMatrix(Matrix(rows: 3, cols: 4, elements: Self.values)))
    }

    @Test(arguments: DType.allCases)
    func zeroIsReadFromTheBitsWithoutDecoding(dtype: DType) {
        let zeros = FactorMatrix(rows: 2, cols: 2, dtype: dtype, bytes: Data(Self.encoded([0, -0.0, -0.0, 0], dtype)))
        #expect(zeros.isZero)
        // The smallest magnitude each dtype holds, in each position, is not zero.
        let tiny = dtype == .f16 ? 5.9604644775390625e-08 : 1e-38
        for position in 0..<4 {
            var values = [0.0, -0.0, 0, -0.0]
            values[position] = position % 2 == 0 ? tiny : -tiny
            let factor = FactorMatrix(rows: 2, cols: 2, dtype: dtype, bytes: Data(Self.encoded(values, dtype)))
            #expect(!factor.isZero, "\(dtype) \(values)")
            #expect(factor.matrix.elements[position] != 0)
        }
        #expect(FactorMatrix(Matrix(zeros: 2, 3)).isZero)
        #expect(!FactorMatrix(Matrix(rows: 1, cols: 1, elements: [1e-300])).isZero)
    }

    @Test(arguments: DType.allCases)
    func nonFiniteValuesAreFoundWhereTheDecodeFoundThem(dtype: DType) throws {
        // 4 × 3: whole 64-bit words of values; 3 × 3: a value of F16/BF16 (F32: one) past the last word.
        for (rows, cols) in [(4, 3), (3, 3)] {
            let count = rows * cols
            for bad in [Double.nan, .infinity, -.infinity] {
                for position in [0, 5, count - 1] {
                    var values = Array(Self.values.prefix(count))
                    values[position] = bad
                    var bytes = Self.encoded(values, dtype)
                    if bad.isNaN, dtype == .f16 {   // f16Bits turns NaN into ∞; write a quiet NaN
                        bytes[2 * position] = 0x00
                        bytes[2 * position + 1] = 0x7E
                    }
                    let header = #"{"t": {"dtype": "\#(dtype.rawValue)", "shape": [\#(rows), \#(cols)], "data_offsets": [0, \#(bytes.count)]}}"#
                    let file = try SafeTensorsFile(data: craftedSafeTensors(header: header, data: bytes))
                    let (factor, first) = try file.checkedFactor("t")
                    let (matrix, decodedFirst) = try file.checkedMatrix("t")
                    #expect(first == position && decodedFirst == position, "\(dtype) \(bad) at \(position) of \(count)")
                    #expect(factor.matrix.elements[position].isNaN == matrix.elements[position].isNaN)
                }
            }
            // The largest finite value of each dtype is not flagged.
            var values = Array(Self.values.prefix(count))
            values[count - 1] = dtype == .f16 ? 65504 : Double(Float.greatestFiniteMagnitude)
            var bytes = Self.encoded(values, dtype)
            if dtype == .bf16 { bytes[2 * (count - 1)] = 0x7F; bytes[2 * (count - 1) + 1] = 0x7F }
            let header = #"{"t": {"dtype": "\#(dtype.rawValue)", "shape": [\#(rows), \#(cols)], "data_offsets": [0, \#(bytes.count)]}}"#
            let file = try SafeTensorsFile(data: craftedSafeTensors(header: header, data: bytes))
            let (factor, first) = try file.checkedFactor("t")
            #expect(first == nil, "\(dtype) \(count)")
            #expect(factor == FactorMatrix(try file.matrix("t")))
            #expect(factor.matrix.elements.allSatisfy { $0.isFinite })
        }
    }

    /// The loader keeps each module's factors in the file's dtype; a fused projection's parts take
    /// their rows of B in that dtype and share A; the doubles are those of the file's values.
    @Test(arguments: [DType.f16, .bf16, .f32])
    func loadedAdapterKeepsItsFactorsInTheFileDType(dtype: DType) throws {
        var tensors = SyntheticPEFT.pair("transformer.h.0.attn.c_attn", r: 2, in: 8, out: 24, seed: 1)
        tensors += SyntheticPEFT.pair("transformer.h.0.attn.c_proj", r: 2, in: 8, out: 8, seed: 2)
        let weights = try SyntheticPEFT.weights(tensors, dtype: dtype)
        let config = SyntheticPEFT.config(#"{"peft_type": "LORA", "r": 2, "lora_alpha": 4, "fan_in_fan_out": true}"#)
        let adapter = try PEFTAdapterLoader.load(configJSON: config, safetensors: weights)
        let file = try SafeTensorsFile(data: weights)
        let fusedA = try file.matrix("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight")
        let fusedB = try file.matrix("base_model.model.transformer.h.0.attn.c_attn.lora_B.weight")
        for (i, p) in [Projection.q, .k, .v].enumerated() {
            let m = try #require(adapter.modules.first { $0.name == "transformer.h.0.attn.c_attn#\(p.rawValue)" })
            #expect(m.factorA.encodedDType == dtype && m.factorB.encodedDType == dtype)
            #expect(m.factorA.memoryBytes == 16 * dtype.byteSize && m.factorB.memoryBytes == 16 * dtype.byteSize)
            #expect(m.a == fusedA)
            #expect(m.b.elements == Array(fusedB.elements[(i * 16)..<((i + 1) * 16)]))
            #expect(m.rank == 2 && m.inFeatures == 8 && m.outFeatures == 8 && m.factorElementCount == 32)
        }
        // A module given doubles keeps them (merges, tests), and compares equal to its encoded twin.
        let o = try #require(adapter.modules.first { $0.name == "transformer.h.0.attn.c_proj" })
        let decoded = LoRAModule(name: o.name, layer: o.layer, projection: o.projection, a: o.a, b: o.b, scale: o.scale)
        #expect(decoded.factorA.encodedDType == nil && decoded == o)

        // Decoded once for a computation that reads the factors many times: the same values, the same
        // adapter to every cache (identity), no factor left encoded.
        let once = adapter.decodingFactors()
        #expect(once.modules == adapter.modules && once.modules.map(\.name) == adapter.modules.map(\.name))
        #expect(once.modules.allSatisfy { $0.factorA.encodedDType == nil && $0.factorB.encodedDType == nil })
        #expect(once.modules.map { $0.a.elements.map(\.bitPattern) } == adapter.modules.map { $0.a.elements.map(\.bitPattern) })
        #expect(once.isCopy(of: adapter) && once.identity.id == adapter.identity.id)
        #expect(once.config == adapter.config && once.tensorBytes == adapter.tensorBytes && once.storageDType == dtype)
    }
}
