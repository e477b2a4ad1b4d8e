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
}
