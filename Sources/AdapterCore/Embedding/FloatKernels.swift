import COpenBLAS
import Foundation

/// Single-precision building blocks of the BERT forward pass, on row-major buffers.
enum FloatKernels {
    /// out (rows×n) = x (rows×k) · wᵀ + bias, with w stored as PyTorch's Linear weight (n×k).
    static func linear(_ x: UnsafePointer<Float>, rows: Int, inputs k: Int, weight w: [Float], bias: [Float],
                       into out: UnsafeMutablePointer<Float>, outputs n: Int) {
        for r in 0..<rows {
            (out + r * n).update(from: bias, count: n)
        }
        w.withUnsafeBufferPointer { wp in
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(n), Int32(k),
                        1, x, Int32(k), wp.baseAddress, Int32(k), 1, out, Int32(n))
        }
    }

    /// In-place LayerNorm of each row of x (rows×width): (x − mean)/sqrt(var + ε)·γ + β.
    static func layerNorm(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int, gamma: [Float], beta: [Float], epsilon: Float) {
        for r in 0..<rows {
            let row = x + r * width
            var mean: Float = 0
            for i in 0..<width { mean += row[i] }
            mean /= Float(width)
            var variance: Float = 0
            for i in 0..<width {
                let d = row[i] - mean
                variance += d * d
            }
            variance /= Float(width)
            let inverse = 1 / (variance + epsilon).squareRoot()
            for i in 0..<width { row[i] = (row[i] - mean) * inverse * gamma[i] + beta[i] }
        }
    }

    /// In-place exact GELU, x·Φ(x) = ½x(1 + erf(x/√2)).
    static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        let inverseSqrt2: Float = 0.70710678118654752
        for i in 0..<count {
            let v = x[i]
            x[i] = 0.5 * v * (1 + erf(v * inverseSqrt2))
        }
    }

    /// In-place softmax of each row of x (rows×width).
    static func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        for r in 0..<rows {
            let row = x + r * width
            var top = -Float.infinity
            for i in 0..<width { top = max(top, row[i]) }
            var sum: Float = 0
            for i in 0..<width {
                let e = exp(row[i] - top)
                row[i] = e
                sum += e
            }
            let inverse = 1 / sum
            for i in 0..<width { row[i] *= inverse }
        }
    }
}
