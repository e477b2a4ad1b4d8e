import CFloatKernels

/// A linear map's weight (outputs × inputs, as PyTorch's `Linear` stores it) kept for the precision its
/// products run in (`RuntimePrecision`): single-precision values for OpenBLAS, or rounded to bfloat16
/// and packed once for CFloatKernels.
struct LinearWeight: Sendable {
    let outputs: Int
    let inputs: Int
    private let storage: Storage

    private enum Storage: Sendable {
        case float32([Float])
        case bfloat16([UInt16])
    }

    /// `values` (outputs × inputs, row-major) for products in `precision`.
    init(_ values: [Float], outputs: Int, inputs: Int, precision: RuntimePrecision) {
        precondition(values.count == outputs * inputs)
        self.outputs = outputs
        self.inputs = inputs
        switch precision {
        case .float32:
            storage = .float32(values)
        case .bfloat16:
            let count = cfloatkernels_bf16_packed_count(outputs, inputs)
            storage = .bfloat16([UInt16](unsafeUninitializedCapacity: count) { packed, initialized in
                values.withUnsafeBufferPointer { cfloatkernels_bf16_pack($0.baseAddress, outputs, inputs, packed.baseAddress) }
                initialized = count
            })
        }
    }

    /// The single-precision values, for a weight kept for `float32` products.
    var float32Values: [Float]? {
        if case .float32(let values) = storage { values } else { nil }
    }

    /// y (rows × outputs, `rowStride` apart) = x (rows × inputs) · Wᵀ + bias.
    func apply(_ x: UnsafePointer<Float>, rows: Int, bias: [Float]?, into y: UnsafeMutablePointer<Float>, rowStride: Int) {
        guard rows > 0 else { return }
        switch storage {
        case .float32(let values):
            FloatKernels.linear(x, rows: rows, inputs: inputs, weight: values, bias: bias, into: y, outputs: outputs,
                                rowStride: rowStride)
        case .bfloat16(let packed):
            let done = packed.withUnsafeBufferPointer { packed in
                withOptionalPointer(bias) { bias in
                    cfloatkernels_bf16_linear(x, rows, inputs, packed.baseAddress, outputs, bias, y, rowStride, 0)
                }
            }
            // Its only failure is allocating its buffer for the rounded x (rows × inputs bfloat16).
            precondition(done != 0, "out of memory for a \(rows) × \(inputs) bfloat16 buffer")
        }
    }

    private func withOptionalPointer<R>(_ values: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
        guard let values else { return body(nil) }
        return values.withUnsafeBufferPointer { body($0.baseAddress) }
    }
}
