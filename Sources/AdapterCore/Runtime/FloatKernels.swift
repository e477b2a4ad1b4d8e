import CFloatKernels
import COpenBLAS
import Foundation

/// Single-precision building blocks of the forward passes, on row-major buffers: matrix products go to
/// OpenBLAS, GELU and the norms to CFloatKernels (built for the CPU's widest vectors), the rest is plain
/// loops over raw pointers (vectorised in release builds).
enum FloatKernels {
    /// out (rows×n, rows `rowStride` apart: n when nil) = x (rows×k) · wᵀ + bias, with w stored as
    /// PyTorch's Linear weight (n×k).
    static func linear(_ x: UnsafePointer<Float>, rows: Int, inputs k: Int, weight w: [Float], bias: [Float]?,
                       into out: UnsafeMutablePointer<Float>, outputs n: Int, rowStride: Int? = nil) {
        guard rows > 0 else { return }
        let stride = rowStride ?? n
        if let bias {
            for r in 0..<rows {
                (out + r * stride).update(from: bias, count: n)
            }
        }
        w.withUnsafeBufferPointer { wp in
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(n), Int32(k),
                        1, x, Int32(k), wp.baseAddress, Int32(k), bias == nil ? 0 : 1, out, Int32(stride))
        }
    }

    /// In-place LayerNorm of each row of x (rows×width): (x − mean)/sqrt(var + ε)·γ + β, the mean and
    /// variance summed in 16 interleaved lanes (CFloatKernels: built for the CPU's widest vectors, the same
    /// bits on every CPU).
    static func layerNorm(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int, gamma: [Float], beta: [Float], epsilon: Float) {
        gamma.withUnsafeBufferPointer { gamma in
            beta.withUnsafeBufferPointer { beta in
                cfloatkernels_layer_norm(x, rows, width, gamma.baseAddress, beta.baseAddress, epsilon)
            }
        }
    }

    /// out = RMSNorm of each row of x (rows×width): x / sqrt(mean(x²) + ε) · (offset + w), the squares
    /// summed as in `layerNorm`. Llama's offset is 0, Gemma's 1.
    static func rmsNorm(_ x: UnsafePointer<Float>, rows: Int, width: Int, weight: [Float], offset: Float,
                        epsilon: Float, into out: UnsafeMutablePointer<Float>) {
        weight.withUnsafeBufferPointer { w in
            cfloatkernels_rms_norm(x, rows, width, w.baseAddress, offset, epsilon, out)
        }
    }

    /// x += y elementwise.
    static func add(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { x[i] += y[i] }
    }

    /// In-place exact GELU, x·Φ(x) = ½x(1 + erf(x/√2)), with `erf` below (CFloatKernels: built for the
    /// CPU's widest vectors, the same bits on every CPU).
    static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        cfloatkernels_gelu(x, count)
    }

    /// erf(x) as x·P(x²)/Q(x²) on x clamped to [−4, 4], without a branch or a library call (the C
    /// library's erff, one call per element, was a sixth of a MiniLM forward pass); the largest error
    /// against double-precision erf over [−6, 6] is 4.4e-7, far inside the runtime's 1e-4 agreement with
    /// transformers (`cfloatkernels_erf`).
    static func erf(_ x: Float) -> Float { cfloatkernels_erf(x) }

    /// gate = act(gate) · up elementwise: the gated MLP's inner product before the down projection.
    static func gatedActivation(_ activation: DecoderConfiguration.Activation, gate: UnsafeMutablePointer<Float>,
                                up: UnsafePointer<Float>, count: Int) {
        switch activation {
        case .silu:
            for i in 0..<count {
                let v = gate[i]
                gate[i] = v / (1 + exp(-v)) * up[i]
            }
        case .gelu:
            gelu(gate, count: count)
            for i in 0..<count { gate[i] *= up[i] }
        case .geluTanh:
            let c: Float = 0.7978845608028654  // √(2/π)
            for i in 0..<count {
                let v = gate[i]
                gate[i] = 0.5 * v * (1 + tanh(c * (v + 0.044715 * v * v * v))) * up[i]
            }
        }
    }

    /// In-place softmax of each row of x (rows×width).
    static func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        for r in 0..<rows {
            softmax(x + r * width, count: width)
        }
    }

    /// In-place causal softmax of a square score matrix (n×n): row i is normalised over columns 0…i
    /// and its later columns (future tokens) are set to 0.
    static func causalSoftmaxRows(_ x: UnsafeMutablePointer<Float>, size n: Int) {
        for r in 0..<n {
            let row = x + r * n
            softmax(row, count: r + 1)
            for i in (r + 1)..<n { row[i] = 0 }
        }
    }

    private static func softmax(_ row: UnsafeMutablePointer<Float>, count: Int) {
        var top = -Float.infinity
        for i in 0..<count { top = max(top, row[i]) }
        var sum: Float = 0
        for i in 0..<count {
            let e = exp(row[i] - top)
            row[i] = e
            sum += e
        }
        let inverse = 1 / sum
        for i in 0..<count { row[i] *= inverse }
    }
}
