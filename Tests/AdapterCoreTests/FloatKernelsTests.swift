import Foundation
import Testing
@testable import AdapterCore

/// The runtime's elementwise kernels against double-precision references.
@Suite struct FloatKernelsTests {
    /// The branch-free erf the GELU uses stays within 5e-7 of double-precision erf everywhere,
    /// including the clamped tails and ±0.
    @Test func erfMatchesDoublePrecision() {
        var worst = 0.0
        for i in -60_000...60_000 {
            let x = Float(i) / 10_000  // −6 … 6 in steps of 1e-4
            worst = max(worst, abs(Double(FloatKernels.erf(x)) - Foundation.erf(Double(x))))
        }
        #expect(worst < 5e-7)
        #expect(FloatKernels.erf(0) == 0)
        #expect(FloatKernels.erf(50) == 1 && FloatKernels.erf(-50) == -1)
    }

    /// GELU in place equals ½x(1 + erf(x/√2)) computed in double precision.
    @Test func geluMatchesItsDefinition() {
        let inputs: [Float] = [-8, -3, -1, -0.25, 0, 0.125, 0.5, 1, 2.5, 7]
        var values = inputs
        values.withUnsafeMutableBufferPointer { FloatKernels.gelu($0.baseAddress!, count: $0.count) }
        for (x, y) in zip(inputs, values) {
            let exact = 0.5 * Double(x) * (1 + Foundation.erf(Double(x) / 2.0.squareRoot()))
            #expect(abs(Double(y) - exact) <= 1e-6 * max(1, abs(exact)), "gelu(\(x)) = \(y), expected \(exact)")
        }
    }

    /// Values that cover the vector bodies and the remainders of every build: smooth, tails past the
    /// clamps, ±0, a subnormal.
    static func values(_ count: Int) -> [Float] {
        var generator = SeededGenerator(seed: 11)
        var values = (0..<count).map { _ in Float(generator.nextUnitDouble() * 16 - 8) }
        for (i, special) in [Float(0), -0.0, Float.leastNormalMagnitude / 4, 50, -50, 3.999, 4.001].enumerated() where i < count { values[i] = special }
        return values
    }

    /// The GELU loop, built for the CPU's widest vectors, gives the scalar definition's bits for every
    /// element (no multiply–add fused), at lengths that leave every remainder.
    @Test func geluVectorBuildMatchesTheScalarDefinitionBitForBit() {
        for count in [1, 7, 15, 16, 17, 33, 1_000] {
            let inputs = Self.values(count)
            var vectorised = inputs
            vectorised.withUnsafeMutableBufferPointer { FloatKernels.gelu($0.baseAddress!, count: $0.count) }
            let inverseSqrt2: Float = 0.70710678118654752
            let scalar = inputs.map { v in 0.5 * v * (1 + FloatKernels.erf(v * inverseSqrt2)) }
            #expect(vectorised.map(\.bitPattern) == scalar.map(\.bitPattern), "count \(count)")
        }
    }

    /// 16 interleaved lanes added in order: the association the norms' sums are documented to use.
    static func laneSum(_ row: ArraySlice<Float>, shift: Float, squares: Bool) -> Float {
        var lanes = [Float](repeating: 0, count: 16)
        for (i, value) in row.enumerated() {
            let d = value - shift
            lanes[i % 16] += squares ? d * d : d
        }
        return lanes.reduce(0, +)
    }

    /// LayerNorm and RMSNorm give the bits of their documented summation order on this CPU's build, and
    /// agree with double-precision references to 1e-5.
    @Test func normsFollowTheirLaneOrderAndAgreeWithDoublePrecision() {
        for width in [5, 16, 37, 384] {
            let rows = 3
            let inputs = Self.values(rows * width).map { $0 * 3 + 1 }
            let gamma = Self.values(width).map { $0 / 8 + 1 }
            let beta = Self.values(width).map { $0 / 16 }
            let epsilon: Float = 1e-12
            var layerNormed = inputs
            layerNormed.withUnsafeMutableBufferPointer {
                FloatKernels.layerNorm($0.baseAddress!, rows: rows, width: width, gamma: gamma, beta: beta, epsilon: epsilon)
            }
            var rmsNormed = [Float](repeating: 0, count: rows * width)
            rmsNormed.withUnsafeMutableBufferPointer { out in
                inputs.withUnsafeBufferPointer {
                    FloatKernels.rmsNorm($0.baseAddress!, rows: rows, width: width, weight: gamma, offset: 1, epsilon: epsilon,
                                         into: out.baseAddress!)
                }
            }
            for r in 0..<rows {
                let row = inputs[(r * width)..<((r + 1) * width)]
                let mean = Self.laneSum(row, shift: 0, squares: false) / Float(width)
                let inverse = 1 / (Self.laneSum(row, shift: mean, squares: true) / Float(width) + epsilon).squareRoot()
                let rmsInverse = 1 / (Self.laneSum(row, shift: 0, squares: true) / Float(width) + epsilon).squareRoot()
                let exactMean = row.reduce(0.0) { $0 + Double($1) } / Double(width)
                let exactInverse = 1 / row.reduce(0.0) { $0 + (Double($1) - exactMean) * (Double($1) - exactMean) }
                    .squareRoot() * Double(width).squareRoot()
                for (i, value) in row.enumerated() {
                    let ln = (value - mean) * inverse * gamma[i] + beta[i]
                    #expect(layerNormed[r * width + i].bitPattern == ln.bitPattern, "LayerNorm width \(width) row \(r) column \(i)")
                    let rms = value * rmsInverse * (1 + gamma[i])
                    #expect(rmsNormed[r * width + i].bitPattern == rms.bitPattern, "RMSNorm width \(width) row \(r) column \(i)")
                    let exact = (Double(value) - exactMean) * exactInverse * Double(gamma[i]) + Double(beta[i])
                    #expect(abs(Double(layerNormed[r * width + i]) - exact) <= 1e-5 * max(1, abs(exact)))
                }
            }
        }
    }
}
