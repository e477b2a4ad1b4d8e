import Foundation

/// Rotary position embeddings (RoPE) in the rotate-half convention of Hugging Face's Llama: for a head
/// vector x of size d and position p, with θᵢ = p · base^(−2i/d) for i < d/2,
///   x'ᵢ = xᵢ cos θᵢ − xᵢ₊d/₂ sin θᵢ,   x'ᵢ₊d/₂ = xᵢ₊d/₂ cos θᵢ + xᵢ sin θᵢ.
/// Frequencies and angles are computed in single precision as transformers does.
struct RotaryEmbedding: Sendable {
    let headSize: Int
    /// base^(−2i/d), i < d/2.
    let inverseFrequencies: [Float]

    init(headSize: Int, base: Double) {
        self.headSize = headSize
        let half = headSize / 2
        let floatBase = Float(base)
        inverseFrequencies = (0..<half).map { i in 1 / powf(floatBase, Float(2 * i) / Float(headSize)) }
    }

    /// cos θ and sin θ for positions 0..<positions, each positions × d/2.
    func table(positions: Int) -> (cos: [Float], sin: [Float]) {
        let half = headSize / 2
        var cosines = [Float](repeating: 0, count: positions * half)
        var sines = [Float](repeating: 0, count: positions * half)
        for p in 0..<positions {
            for i in 0..<half {
                let angle = Double(Float(p) * inverseFrequencies[i])
                cosines[p * half + i] = Float(Foundation.cos(angle))
                sines[p * half + i] = Float(Foundation.sin(angle))
            }
        }
        return (cosines, sines)
    }

    /// Rotates `heads` head vectors in each row of x (row stride `stride`), the row of token t of a
    /// sequence taking position t.
    func apply(_ x: UnsafeMutablePointer<Float>, stride: Int, heads: Int, batch: PackedBatch,
               table: (cos: [Float], sin: [Float])) {
        let half = headSize / 2
        table.cos.withUnsafeBufferPointer { cosines in
            table.sin.withUnsafeBufferPointer { sines in
                for s in 0..<batch.count {
                    for t in 0..<batch.lengths[s] {
                        let row = x + (batch.offsets[s] + t) * stride
                        let c = cosines.baseAddress! + t * half
                        let sn = sines.baseAddress! + t * half
                        for head in 0..<heads {
                            let v = row + head * headSize
                            for i in 0..<half {
                                let a = v[i]
                                let b = v[i + half]
                                v[i] = a * c[i] - b * sn[i]
                                v[i + half] = b * c[i] + a * sn[i]
                            }
                        }
                    }
                }
            }
        }
    }
}
