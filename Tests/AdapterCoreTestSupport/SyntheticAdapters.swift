import AdapterCore

/// Synthetic adapters and embedding tables for detector tests (no corpus needed).
public enum SyntheticAdapters {
    public static func randomMatrix(_ rows: Int, _ cols: Int, _ sd: Double, _ rng: inout SeededGenerator) -> Matrix {
        Matrix(rows: rows, cols: cols, elements: (0..<(rows * cols)).map { _ in sd * rng.nextGaussian() })
    }

    /// A BERT-style adapter on q/k/v/o of `layers` layers, width `d`, rank `r`. With `trigger`, every
    /// Q/K/V module's A gets a strong component along that direction (a single-token backdoor).
    public static func adapter(seed: UInt64, d: Int = 32, layers: Int = 3, r: Int = 4, alpha: Double = 8,
                               trigger: [Double]? = nil, triggerStrength: Double = 3,
                               projections: [Projection] = [.q, .k, .v, .o],
                               architecture: ArchitectureFamily = .bert) -> LoRAAdapter {
        var rng = SeededGenerator(seed: seed)
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

    public static func table(vocab: Int = 300, d: Int = 32, seed: UInt64 = 99) -> TokenEmbeddingTable {
        var rng = SeededGenerator(seed: seed)
        return TokenEmbeddingTable(architecture: .bert, hiddenSize: d, tokens: (0..<vocab).map { "tok\($0)" },
                                   vectors: randomMatrix(vocab, d, 1, &rng), source: "synthetic")
    }
}
