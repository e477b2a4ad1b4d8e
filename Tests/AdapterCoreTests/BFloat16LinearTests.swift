import CFloatKernels
import Foundation
import Testing
@testable import AdapterCore

/// The bfloat16 products of a linear map (`CFloatKernels` bfloat16_linear.c, `LinearWeight`): the
/// rounding, the summation order both builds follow, and how far they are from single precision.
@Suite struct BFloat16LinearTests {
    static func bits(_ value: UInt16) -> Float { Float(bitPattern: UInt32(value) << 16) }

    /// Nearest with ties to even; subnormals to ±0; NaN stays NaN; overflow past the largest bfloat16 to ∞.
    @Test func roundingIsNearestEvenWithSubnormalsFlushed() {
        #expect(cfloatkernels_bf16_round(1) == 0x3F80)
        #expect(cfloatkernels_bf16_round(1 + 0x1p-8) == 0x3F80)            // a tie, to the even 1
        #expect(cfloatkernels_bf16_round(1 + 3 * 0x1p-8) == 0x3F82)        // a tie, to the even 1 + 2⁻⁶
        #expect(cfloatkernels_bf16_round(1 + 0x1p-8 + 0x1p-20) == 0x3F81)  // above the tie
        #expect(cfloatkernels_bf16_round(-2.5) == 0xC020)
        #expect(cfloatkernels_bf16_round(Float.leastNormalMagnitude / 2) == 0x0000)
        #expect(cfloatkernels_bf16_round(-Float.leastNormalMagnitude / 2) == 0x8000)
        #expect(cfloatkernels_bf16_round(.infinity) == 0x7F80)
        #expect(cfloatkernels_bf16_round(Float.greatestFiniteMagnitude) == 0x7F80)
        #expect(Self.bits(cfloatkernels_bf16_round(.nan)).isNaN)
        for value: Float in [0.1, -3.75, 1e30, 1e-30, 123.456] {
            let rounded = Self.bits(cfloatkernels_bf16_round(value))
            #expect(abs(rounded - value) <= abs(value) * 0x1p-9, "\(value) → \(rounded)")
        }
    }

    /// What both builds are documented to compute, written out: inputs rounded, per pair the odd
    /// product then the even one added (exact products, rounded sums), a subnormal sum flushed to ±0.
    static func reference(x: [Float], rows: Int, inputs: Int, weight: [Float], outputs: Int, bias: [Float]?) -> [Float] {
        func r(_ v: Float) -> Float { bits(cfloatkernels_bf16_round(v)) }
        func flushed(_ v: Float) -> Float { v.isSubnormal ? (v.sign == .minus ? -0.0 : 0) : v }
        var y = [Float](repeating: 0, count: rows * outputs)
        for row in 0..<rows {
            for n in 0..<outputs {
                var sum = bias?[n] ?? 0
                for j in stride(from: 0, to: inputs, by: 2) {
                    if j + 1 < inputs {
                        sum = flushed(sum.addingProduct(r(x[row * inputs + j + 1]), r(weight[n * inputs + j + 1])))
                    } else {
                        sum = flushed(sum + 0)  // the zero a padded odd width adds
                    }
                    sum = flushed(sum.addingProduct(r(x[row * inputs + j]), r(weight[n * inputs + j])))
                }
                y[row * outputs + n] = sum
            }
        }
        return y
    }

    static func run(x: [Float], rows: Int, inputs: Int, weight: [Float], outputs: Int, bias: [Float]?,
                    rowStride: Int, portable: Bool) -> [Float] {
        var packed = [UInt16](repeating: 0, count: cfloatkernels_bf16_packed_count(outputs, inputs))
        weight.withUnsafeBufferPointer { w in
            packed.withUnsafeMutableBufferPointer { cfloatkernels_bf16_pack(w.baseAddress, outputs, inputs, $0.baseAddress) }
        }
        var y = [Float](repeating: -7, count: rows * rowStride)
        let done = x.withUnsafeBufferPointer { x in
            packed.withUnsafeBufferPointer { p in
                y.withUnsafeMutableBufferPointer { y in
                    if let bias {
                        return bias.withUnsafeBufferPointer {
                            cfloatkernels_bf16_linear(x.baseAddress, rows, inputs, p.baseAddress, outputs, $0.baseAddress,
                                                      y.baseAddress, rowStride, portable ? 1 : 0)
                        }
                    }
                    return cfloatkernels_bf16_linear(x.baseAddress, rows, inputs, p.baseAddress, outputs, nil,
                                                     y.baseAddress, rowStride, portable ? 1 : 0)
                }
            }
        }
        #expect(done == 1)
        return y
    }

    /// The AVX512_BF16 build (where the CPU has it) and the portable one give the reference's bits, for
    /// widths odd and even, row counts around the tile's 8 and output counts around the panels' 16 and
    /// 32, with and without a bias, into rows wider than the outputs (the gap left untouched).
    @Test func bothBuildsGiveTheDocumentedSumBitForBit() {
        var generator = SeededGenerator(seed: 5)
        func values(_ count: Int, _ scale: Double) -> [Float] {
            (0..<count).map { _ in Float((generator.nextUnitDouble() * 2 - 1) * scale) }
        }
        var cases = 0
        for (rows, inputs, outputs) in [(1, 1, 1), (3, 2, 17), (8, 7, 16), (9, 384, 33), (17, 385, 48), (20, 64, 100)] {
            for withBias in [false, true] {
                let x = values(rows * inputs, 4), weight = values(outputs * inputs, 0.2)
                let bias = withBias ? values(outputs, 1) : nil
                let expected = Self.reference(x: x, rows: rows, inputs: inputs, weight: weight, outputs: outputs, bias: bias)
                for portable in [true, false] {
                    let stride = outputs + 3
                    let y = Self.run(x: x, rows: rows, inputs: inputs, weight: weight, outputs: outputs, bias: bias,
                                     rowStride: stride, portable: portable)
                    let written = (0..<rows).flatMap { y[($0 * stride)..<($0 * stride + outputs)] }
                    let gaps = (0..<rows).flatMap { y[($0 * stride + outputs)..<($0 * stride + stride)] }
                    #expect(written.map(\.bitPattern) == expected.map(\.bitPattern),
                            "rows \(rows) inputs \(inputs) outputs \(outputs) bias \(withBias) portable \(portable)")
                    #expect(gaps.allSatisfy { $0 == -7 })
                    cases += 1
                }
            }
        }
        #expect(cases == 24)
        print("bfloat16 linear: AVX512_BF16 on this CPU: \(cfloatkernels_bf16_has_instructions() != 0)")
    }

    /// Each thread's buffer of rounded inputs is freed when the thread exits: the planner's helper
    /// threads come and go, and a buffer left behind by each would grow the daemon without end. (Counted
    /// as frees, which other tests' threads can only add to, so that tests running beside it do not
    /// matter.)
    @Test func aThreadsBufferIsFreedWhenItExits() throws {
        let before = cfloatkernels_bf16_freed_buffers()
        var threads: [pthread_t] = []
        for _ in 0..<6 {
            var thread = pthread_t()
            let created = pthread_create(&thread, nil, { _ in
                // One product on this thread (no expectations here: the test's task is elsewhere).
                let x = [Float](repeating: 0.5, count: 64 * 96)
                let packed = [UInt16](repeating: 0x3E80, count: cfloatkernels_bf16_packed_count(16, 96))
                var y = [Float](repeating: 0, count: 64 * 16)
                _ = cfloatkernels_bf16_linear(x, 64, 96, packed, 16, nil, &y, 16, 0)
                return nil
            }, nil)
            try #require(created == 0)
            threads.append(thread)
        }
        for thread in threads { pthread_join(thread, nil) }
        #expect(cfloatkernels_bf16_freed_buffers() - before >= 6)
        // A thread that stays keeps its buffer, grown to its largest call: this one.
        _ = Self.run(x: [Float](repeating: 1, count: 40), rows: 4, inputs: 10, weight: [Float](repeating: 1, count: 10),
                     outputs: 1, bias: nil, rowStride: 1, portable: true)
        let kept = cfloatkernels_bf16_thread_buffer_capacity()
        _ = Self.run(x: [1, 2], rows: 1, inputs: 2, weight: [3, 4], outputs: 1, bias: nil, rowStride: 1, portable: true)
        #expect(kept >= 40 && cfloatkernels_bf16_thread_buffer_capacity() == kept)
    }

    /// A sum that falls below the normal range is flushed to zero, in both builds.
    @Test func subnormalSumsAreFlushed() {
        let tiny: Float = 0x1p-70  // normal in bfloat16; its square, 2⁻¹⁴⁰, is subnormal in single precision
        for portable in [true, false] {
            let y = Self.run(x: [tiny, tiny], rows: 1, inputs: 2, weight: [tiny, tiny], outputs: 1, bias: nil,
                             rowStride: 1, portable: portable)
            #expect(y == [0], "portable \(portable)")
        }
    }

    /// `LinearWeight` in bfloat16 is within bfloat16's error of the single-precision product, and not equal to it.
    @Test func bfloat16WeightIsCloseToSinglePrecision() {
        var generator = SeededGenerator(seed: 9)
        let rows = 12, inputs = 384, outputs = 96
        let x = (0..<(rows * inputs)).map { _ in Float(generator.nextUnitDouble() * 2 - 1) }
        let values = (0..<(outputs * inputs)).map { _ in Float((generator.nextUnitDouble() * 2 - 1) * 0.05) }
        let bias = (0..<outputs).map { _ in Float(generator.nextUnitDouble() - 0.5) }
        var results: [RuntimePrecision: [Float]] = [:]
        for precision in RuntimePrecision.allCases {
            let weight = LinearWeight(values, outputs: outputs, inputs: inputs, precision: precision)
            var y = [Float](repeating: 0, count: rows * outputs)
            x.withUnsafeBufferPointer { x in
                y.withUnsafeMutableBufferPointer { weight.apply(x.baseAddress!, rows: rows, bias: bias, into: $0.baseAddress!, rowStride: outputs) }
            }
            results[precision] = y
        }
        let error = RuntimeFixtures.relativeError(results[.bfloat16]!, results[.float32]!)
        #expect(error > 0 && error < 1e-2, "max|bf16 − f32| / max|f32| = \(error)")
    }

    /// Every base model family with bfloat16 products stays near transformers' single-precision outputs
    /// (the golden references), at bfloat16's precision instead of the goldens' 1e-4.
    @Test(arguments: ["bert"] + RuntimeFixtures.decoderCases)
    func bfloat16ModelsStayNearTheGoldens(_ name: String) throws {
        let directory = RuntimeFixtures.model(name)
        let (reference, tensors) = try RuntimeFixtures.reference(name)
        let adapter = try RuntimeFixtures.adapter(name)
        let model = try BaseModel(modelDirectory: directory, precision: .bfloat16)
        #expect(model.precision == .bfloat16)
        var worst: Float = 0
        for (variant, lora) in [("base", nil), ("adapter", adapter)] as [(String, FactoredLoRA?)] {
            let hidden = try model.hiddenStates(reference.ids, adapter: lora)
            for i in reference.ids.indices {
                worst = max(worst, RuntimeFixtures.relativeError(hidden[i], try tensors.floats("\(variant).hidden.\(i)")))
            }
        }
        print("runtime bfloat16 \(name): worst max|a−b|/max|b| \(worst)")
        #expect(worst > RuntimeFixtures.tolerance / 100 && worst < 3e-2, "\(name): \(worst)")
    }
}
