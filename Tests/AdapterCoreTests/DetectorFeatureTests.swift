@testable import AdapterCore
import AdapterCoreTestSupport
import Foundation
import Testing

@Suite("DetectorFeatures")
struct DetectorFeatureTests {
    @Test("feature names per set")
    func names() {
        #expect(DetectorFeatureExtractor.names(for: .baseline).count == 20)
        #expect(DetectorFeatureExtractor.names(for: .extended).count == 4 * 4 * 5 + 4)
        #expect(DetectorFeatureExtractor.names(for: .extendedTokens).count == 84 + TokenResponseFeatures.names.count)
        #expect(DetectorFeatureExtractor.names(for: .alignment) == TokenAlignmentFeatures.names)
        #expect(TokenAlignmentFeatures.names.count == 3 * 2 * 4)
        #expect(DetectorFeatureExtractor.names(for: .extendedAlignment).count == 84 + 24)
        for fs in DetectorFeatureSet.allCases {
            let n = DetectorFeatureExtractor.names(for: fs)
            #expect(Set(n).count == n.count)
        }
    }

    @Test("baseline = layer mean of each projection's spectral statistics")
    func baselineIsLayerMean() throws {
        let adapter = SyntheticAdapters.adapter(seed: 1)
        let f = try DetectorFeatureExtractor(featureSet: .baseline).extract(adapter)
        #expect(f.values.count == 20)
        #expect(f.profile.key == "bert-32x3")
        for (pi, p) in Projection.allCases.enumerated() {
            let stats = try adapter.modules(for: p).map { SpectralStatistics(singularValues: try LowRank.singularValues(of: $0.update)).values }
            for k in 0..<5 {
                let mean = stats.map { $0[k] }.reduce(0, +) / Double(stats.count)
                #expect(abs(f.values[pi * 5 + k] - mean) <= 1e-9 * max(1, abs(mean)))
            }
        }
    }

    @Test("an adapter without attention modules cannot be featurised")
    func noAttention() {
        let a = SyntheticAdapters.adapter(seed: 2, projections: [])
        #expect { try DetectorFeatureExtractor(featureSet: .extended).extract(a) } throws: {
            ($0 as? DetectorError)?.code == .outOfDistribution
        }
    }

    @Test("token responses single out the trigger token without knowing it")
    func tokenResponseFindsTrigger() throws {
        let table = SyntheticAdapters.table()
        let triggerIndex = 137
        let trigger = (0..<32).map { table.vectors[triggerIndex, $0] }
        let poisoned = SyntheticAdapters.adapter(seed: 3, trigger: trigger)
        let benign = SyntheticAdapters.adapter(seed: 3)
        let p = try TokenResponseFeatures.compute(adapter: poisoned, table: table)
        let b = try TokenResponseFeatures.compute(adapter: benign, table: table)
        #expect(p.topToken == "tok137")
        let names = TokenResponseFeatures.names
        let i = try #require(names.firstIndex(of: "tokens.consensus.top1z"))
        #expect(p.values[i] > 2 * b.values[i])
        #expect(p.values.count == names.count && p.values.allSatisfy { $0.isFinite })
    }

    @Test("token responses are ‖s·B·A x‖ of every token, rank-deficient and zero B included")
    func tokenResponsesMatchDense() throws {
        let table = SyntheticAdapters.table()
        var modules = SyntheticAdapters.adapter(seed: 6).modules.filter { $0.projection == .q }.prefix(2).map { $0 }
        let template = modules[0]
        // B with two equal columns (rank-deficient BᵀB) and B = 0 (an untrained adapter's start).
        var repeated = template.b
        for i in 0..<repeated.rows { repeated[i, 1] = repeated[i, 0] }
        modules.append(LoRAModule(name: "repeated", layer: 0, projection: .q, a: template.a, b: repeated, scale: 1.5))
        modules.append(LoRAModule(name: "zero", layer: 0, projection: .q, a: template.a,
                                  b: Matrix(zeros: template.b.rows, template.b.cols), scale: 2))
        let responses = try TokenResponseFeatures.responses(of: modules, table: table)
        for (mi, m) in modules.enumerated() {
            let dense = m.b.multiplied(by: m.a, alpha: m.scale)  // out × in
            for t in stride(from: 0, to: table.vectors.rows, by: 17) {
                var norm = 0.0
                for i in 0..<dense.rows {
                    var y = 0.0
                    for j in 0..<dense.cols { y += dense[i, j] * table.vectors[t, j] }
                    norm += y * y
                }
                #expect(abs(responses[mi][t] - norm.squareRoot()) <= 1e-10 * max(1, norm.squareRoot()))
            }
        }
        #expect(responses[3].allSatisfy { $0 == 0 })
    }

    @Test("token-response statistics do not depend on the adapter's scale")
    func tokenScaleInvariant() throws {
        let table = SyntheticAdapters.table()
        let x = try TokenResponseFeatures.compute(adapter: SyntheticAdapters.adapter(seed: 4, alpha: 8), table: table)
        let y = try TokenResponseFeatures.compute(adapter: SyntheticAdapters.adapter(seed: 4, alpha: 80), table: table)
        for (a, b) in zip(x.values, y.values) { #expect(abs(a - b) <= 1e-9 * max(1, abs(a))) }
    }

    @Test("token features need embeddings of the adapter's width")
    func tokenWidthMismatch() {
        let table = SyntheticAdapters.table(d: 16)
        #expect { try TokenResponseFeatures.compute(adapter: SyntheticAdapters.adapter(seed: 5), table: table) } throws: {
            ($0 as? DetectorError)?.code == .baseModelMismatch
        }
        #expect { try DetectorFeatureExtractor(featureSet: .extendedTokens).extract(SyntheticAdapters.adapter(seed: 5)) } throws: {
            ($0 as? DetectorError)?.code == .missingBaseModel
        }
    }

    @Test("token alignment picks out the token an update reads without knowing it")
    func alignmentFindsTrigger() throws {
        let table = SyntheticAdapters.table()
        let trigger = (0..<32).map { table.vectors[137, $0] }
        let poisoned = SyntheticAdapters.adapter(seed: 3, trigger: trigger)
        let benign = SyntheticAdapters.adapter(seed: 3)
        let p = try TokenAlignmentFeatures.compute(adapter: poisoned, table: table)
        let b = try TokenAlignmentFeatures.compute(adapter: benign, table: table)
        #expect(p.topToken == "tok137")
        #expect(p.topModule?.hasPrefix("encoder.layer.0.") == true)
        let names = TokenAlignmentFeatures.names
        for name in ["align.qkv.L0.top1max", "align.q.max.gap1max", "align.v.L0.top1first"] {
            let i = try #require(names.firstIndex(of: name))
            #expect(p.values[i] > b.values[i] + 0.2, "\(name): poisoned \(p.values[i]) vs benign \(b.values[i])")
        }
        #expect(p.values.count == names.count && p.values.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 1 + 1e-9 })
    }

    @Test("an update that reads exactly one token's direction has alignment 1 with that token")
    func alignmentExactValues() throws {
        let table = SyntheticAdapters.table(vocab: 50, d: 8, seed: 7)
        let u = table.centredUnitVectors
        var rng = SeededGenerator(seed: 1)
        // Rank 1: A is token 9's centred unit vector (times 2), B random: the only input direction is token 9.
        let a = Matrix(rows: 1, cols: 8, elements: (0..<8).map { 2 * u[9, $0] })
        let b = SyntheticAdapters.randomMatrix(8, 1, 1, &rng)
        let module = LoRAModule(name: "encoder.layer.0.attention.self.query", layer: 0, projection: .q, a: a, b: b, scale: 3)
        let (stats, best, top) = try TokenAlignmentFeatures.moduleStatistics(module, table: table)
        #expect(best == 9)
        #expect(abs(top - 1) < 1e-9 && abs(stats[0] - 1) < 1e-9 && abs(stats[1] - 1) < 1e-9)
        // The runner-up is the token whose centred direction is next closest to token 9's.
        var cosines = (0..<u.rows).filter { $0 != 9 }.map { t in abs((0..<8).reduce(0.0) { $0 + u[t, $1] * u[9, $1] }) }
        cosines.sort(by: >)
        #expect(abs(stats[3] - (1 - cosines[0])) < 1e-9)
        let restMean = cosines.prefix(9).reduce(0, +) / 9
        #expect(abs(stats[2] - (1 - restMean)) < 1e-9)
    }

    /// Every token with |⟨direction, x⟩| in double precision, best first (ties: the lower row).
    static func rankedAlignments(_ direction: [Double], _ table: TokenEmbeddingTable) -> [(token: Int, value: Double)] {
        let u = table.centredUnitVectors
        let all = (0..<u.rows).map { t in (token: t, value: abs((0..<u.cols).reduce(0.0) { $0 + u[t, $1] * direction[$1] })) }
        return all.sorted { $0.value > $1.value || ($0.value == $1.value && $0.token < $1.token) }
    }

    /// The 10 best |⟨direction, x⟩| over the table and the best token, in double precision over every row.
    static func bruteForceTop10(_ direction: [Double], _ table: TokenEmbeddingTable) -> (values: [Double], best: Int) {
        let ranked = rankedAlignments(direction, table)
        return (ranked.prefix(10).map(\.value), ranked[0].token)
    }

    @Test("the single-precision shortlist gives the double-precision top 10, and a cut within its error makes the direction be read in full")
    func alignmentShortlistIsExact() throws {
        // A random table: the shortlist's cut is clear, so the top 10 come from it.
        let table = SyntheticAdapters.table(vocab: 400, d: 24, seed: 11)
        var rng = SeededGenerator(seed: 12)
        let direction = SyntheticAdapters.randomMatrix(1, 24, 1, &rng).elements
        let norm = direction.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let unit = direction.map { $0 / norm }
        let lists = TokenAlignmentFeatures.shortlist(directions: unit.map(Float.init), count: 1, table: table)
        let exact = TokenAlignmentFeatures.exactTop10(of: unit[...], shortlist: lists[0], table: table)
        let brute = Self.bruteForceTop10(unit, table)
        #expect(exact.fromShortlist)
        #expect(exact.best == brute.best)
        for (a, b) in zip(exact.values, brute.values) { #expect(abs(a - b) <= 1e-13) }

        // A shortlist is trusted only when its cut is clear of the single-precision error: one that
        // lacks the best token and whose cut lies within the error bound of its 10th value makes the
        // direction be read again in full; the same shortlist with a clear cut is taken as it is.
        let withoutBest = Array(Self.rankedAlignments(unit, table)[1...16])
        let bound = TokenAlignmentFeatures.singlePrecisionErrorBound(width: 24)
        for (gap, trusted) in [(bound / 3, false), (100 * bound, true)] {
            var values = withoutBest.map { Float($0.value) }
            values[15] = Float(withoutBest[9].value - gap)
            let read = TokenAlignmentFeatures.exactTop10(of: unit[...], shortlist: (withoutBest.map(\.token), values), table: table)
            #expect(read.fromShortlist == trusted)
            #expect((read.best == brute.best) == !trusted)
        }
    }

    @Test("token-alignment features do not depend on the adapter's scale and need embeddings of its width")
    func alignmentScaleAndWidth() throws {
        let table = SyntheticAdapters.table()
        let x = try TokenAlignmentFeatures.compute(adapter: SyntheticAdapters.adapter(seed: 4, alpha: 8), table: table)
        let y = try TokenAlignmentFeatures.compute(adapter: SyntheticAdapters.adapter(seed: 4, alpha: 80), table: table)
        for (a, b) in zip(x.values, y.values) { #expect(abs(a - b) <= 1e-9) }
        #expect { try TokenAlignmentFeatures.compute(adapter: SyntheticAdapters.adapter(seed: 5), table: SyntheticAdapters.table(d: 16)) } throws: {
            ($0 as? DetectorError)?.code == .baseModelMismatch
        }
        #expect { try DetectorFeatureExtractor(featureSet: .alignment).extract(SyntheticAdapters.adapter(seed: 5)) } throws: {
            ($0 as? DetectorError)?.code == .missingBaseModel
        }
        // Without K (q, v only) every feature is still defined.
        let qv = try TokenAlignmentFeatures.compute(adapter: SyntheticAdapters.adapter(seed: 6, projections: [.q, .v]), table: table)
        #expect(qv.values.count == TokenAlignmentFeatures.names.count && qv.values.allSatisfy(\.isFinite))
    }
}
