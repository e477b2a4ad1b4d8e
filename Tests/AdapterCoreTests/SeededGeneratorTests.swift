import Foundation
import Testing
@testable import AdapterCore

@Suite struct SeededGeneratorTests {
    /// The reference outputs of SplitMix64 (Vigna's splitmix64.c) for seed 1234567: every seeded result
    /// of adapterd (clusterings, DARE masks, cross-validation splits) rests on exactly this stream.
    @Test func matchesTheSplitMix64ReferenceStream() {
        var generator = SeededGenerator(seed: 1234567)
        let expected: [UInt64] = [6457827717110365317, 3203168211198807973, 9817491932198370423,
                                  4593380528125082431, 16408922859458223821]
        #expect((0..<5).map { _ in generator.next() } == expected)
    }

    /// Uniform doubles are the top 53 bits of one draw; a Gaussian is Box–Muller on two of them.
    @Test func unitDoublesAndGaussiansComeFromTheSameStream() {
        var generator = SeededGenerator(seed: 0)
        var raw = SeededGenerator(seed: 0)
        let twoTo53 = 9_007_199_254_740_992.0
        #expect(generator.nextUnitDouble() == Double(raw.next() >> 11) / twoTo53)
        let u1 = Double(raw.next() >> 11) / twoTo53
        let u2 = Double(raw.next() >> 11) / twoTo53
        #expect(generator.nextGaussian() == (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }
}
