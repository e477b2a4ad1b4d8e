@testable import AdapterCore
import Foundation
import Testing

/// Synthetic adapters and embedding tables for detector tests (no corpus needed).
enum SyntheticAdapters {
    static func gaussian(_ rng: inout SplitMix64) -> Double {
        let u1 = max(Double(rng.next() >> 11) / Double(1 << 53), 1e-300)
        let u2 = Double(rng.next() >> 11) / Double(1 << 53)
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }

    static func randomMatrix(_ rows: Int, _ cols: Int, _ sd: Double, _ rng: inout SplitMix64) -> Matrix {
        Matrix(rows: rows, cols: cols, elements: (0..<(rows * cols)).map { _ in sd * gaussian(&rng) })
    }

    /// A BERT-style adapter on q/k/v/o of `layers` layers, width `d`, rank `r`. With `trigger`, every
    /// Q/K/V module's A gets a strong component along that direction (a single-token backdoor).
    static func adapter(seed: UInt64, d: Int = 32, layers: Int = 3, r: Int = 4, alpha: Double = 8,
                        trigger: [Double]? = nil, triggerStrength: Double = 3,
                        projections: [Projection] = [.q, .k, .v, .o],
                        architecture: ArchitectureFamily = .bert) -> LoRAAdapter {
        var rng = SplitMix64(seed: seed)
        var modules: [LoRAModule] = []
        for layer in 0..<layers {
            for p in projections {
                var a = randomMatrix(r, d, 0.1, &rng)
                let b = randomMatrix(d, r, 0.1, &rng)
                if let t = trigger, p != .o {
                    let norm = t.map { $0 * $0 }.reduce(0, +).squareRoot()
                    for j in 0..<d { a[0, j] += triggerStrength * t[j] / norm }
                }
                let name = "encoder.layer.\(layer).attention.self.\(p.rawValue)"
                modules.append(LoRAModule(name: name, layer: layer, projection: p, a: a, b: b, scale: alpha / Double(r)))
            }
        }
        return LoRAAdapter(config: PEFTConfig(r: r, loraAlpha: alpha), modules: modules, architecture: architecture,
                           storageDType: .f32, tensorBytes: 0)
    }

    static func table(vocab: Int = 300, d: Int = 32, seed: UInt64 = 99) -> TokenEmbeddingTable {
        var rng = SplitMix64(seed: seed)
        return TokenEmbeddingTable(architecture: .bert, hiddenSize: d, tokens: (0..<vocab).map { "tok\($0)" },
                                   vectors: randomMatrix(vocab, d, 1, &rng), source: "synthetic")
    }
}

@Suite("DetectorFeatures")
struct DetectorFeatureTests {
    @Test("feature names per set")
    func names() {
        #expect(DetectorFeatureExtractor.names(for: .baseline).count == 20)
        #expect(DetectorFeatureExtractor.names(for: .extended).count == 4 * 4 * 5 + 4)
        #expect(DetectorFeatureExtractor.names(for: .extendedTokens).count == 84 + TokenResponseFeatures.names.count)
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
}
