import Foundation

/// A LoRA factor as it is held in memory: either the `Double`s the math works in, or the little-endian
/// F16, BF16 or F32 values of the safetensors file it was read from, decoded to doubles where it is
/// read (`matrix`).
///
/// Every F16, BF16 and F32 value is a `Double` exactly, so an encoded factor gives the math the very
/// numbers a decoded one would, at a quarter (F16, BF16) or half (F32) of the memory: a loaded
/// adapter is kept in its file's dtype and each consumer decodes the module it works on, into memory
/// it frees after (docs/PERFORMANCE.md, "Factors kept in their file's dtype").
public struct FactorMatrix: Sendable {
    public let rows: Int
    public let cols: Int
    private let storage: Storage

    private enum Storage: Sendable {
        case doubles([Double])
        /// rows × cols values of `dtype`, row-major, little-endian: a slice of the file's bytes as they
        /// were read (no copy; the factors of one file share its buffer).
        case encoded(DType, Data)
    }

    /// A factor of the given doubles.
    public init(_ matrix: Matrix) {
        rows = matrix.rows
        cols = matrix.cols
        storage = .doubles(matrix.elements)
    }

    /// A factor of rows × cols little-endian values of `dtype`, row-major (`bytes.count` must be
    /// rows · cols · dtype.byteSize). A slice of a larger `Data` is kept as it is, sharing its buffer.
    public init(rows: Int, cols: Int, dtype: DType, bytes: Data) {
        precondition(rows >= 0 && cols >= 0 && bytes.count == rows * cols * dtype.byteSize,
                     "FactorMatrix: \(bytes.count) bytes for \(rows)×\(cols) \(dtype.rawValue)")
        self.rows = rows
        self.cols = cols
        storage = .encoded(dtype, bytes)
    }

    /// Number of elements.
    public var count: Int { rows * cols }

    /// The file dtype the values are kept in, or nil when they are kept as doubles.
    public var encodedDType: DType? {
        if case .encoded(let dtype, _) = storage { return dtype }
        return nil
    }

    /// Bytes of memory the values take.
    public var memoryBytes: Int {
        switch storage {
        case .doubles(let values): values.count * MemoryLayout<Double>.stride
        case .encoded(_, let bytes): bytes.count
        }
    }

    /// The values as a `Matrix` of doubles (decoded from the file's dtype when kept encoded: a new
    /// array each time, so a consumer reads it once per use).
    public var matrix: Matrix {
        switch storage {
        case .doubles(let values):
            return Matrix(rows: rows, cols: cols, elements: values)
        case .encoded(let dtype, let bytes):
            let values = bytes.withUnsafeBytes { HalfPrecision.doubles(dtype, from: $0.baseAddress, count: count).values }
            return Matrix(rows: rows, cols: cols, elements: values)
        }
    }

    /// The same values kept as doubles (this factor itself when they are already).
    var decoded: FactorMatrix {
        if case .doubles = storage { return self }
        return FactorMatrix(matrix)
    }

    /// Whether every value is ±0 (read from the kept values, without decoding).
    public var isZero: Bool {
        switch storage {
        case .doubles(let values):
            return values.allSatisfy { $0 == 0 }
        case .encoded(let dtype, let bytes):
            // ±0 in F16, BF16 and F32: every bit but the sign clear. Read a block at a time, so that a
            // trained factor (non-zero from its first values) is told at once.
            return bytes.withUnsafeBytes { raw in
                dtype == .f32 ? Self.allZero(raw, UInt32.self, magnitude: 0x7FFF_FFFF)
                    : Self.allZero(raw, UInt16.self, magnitude: 0x7FFF)
            }
        }
    }

    private static func allZero<Bits: FixedWidthInteger & UnsignedInteger>(
        _ raw: UnsafeRawBufferPointer, _: Bits.Type, magnitude: Bits
    ) -> Bool {
        let count = raw.count / MemoryLayout<Bits>.size
        var start = 0
        while start < count {
            let end = min(count, start + 256)
            var any: Bits = 0
            for i in start..<end {
                any |= Bits(littleEndian: raw.loadUnaligned(fromByteOffset: i * MemoryLayout<Bits>.size, as: Bits.self)) & magnitude
            }
            if any != 0 { return false }
            start = end
        }
        return true
    }

    /// The factor of rows `range` (all columns), kept as this one is.
    public func rows(_ range: Range<Int>) -> FactorMatrix {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "FactorMatrix: rows \(range) of \(rows)")
        if range == 0..<rows { return self }
        switch storage {
        case .doubles(let values):
            return FactorMatrix(Matrix(rows: range.count, cols: cols,
                                       elements: Array(values[(range.lowerBound * cols)..<(range.upperBound * cols)])))
        case .encoded(let dtype, let bytes):
            let rowBytes = cols * dtype.byteSize
            let start = bytes.startIndex
            return FactorMatrix(rows: range.count, cols: cols, dtype: dtype,
                                bytes: bytes[(start + range.lowerBound * rowBytes)..<(start + range.upperBound * rowBytes)])
        }
    }
}

extension FactorMatrix: Equatable {
    /// Equal shapes and equal values as doubles, however each is kept.
    public static func == (lhs: FactorMatrix, rhs: FactorMatrix) -> Bool {
        guard lhs.rows == rhs.rows, lhs.cols == rhs.cols else { return false }
        switch (lhs.storage, rhs.storage) {
        case (.doubles(let l), .doubles(let r)): return l == r
        // The same bits are the same values unless one is NaN (the fused parts of one module share
        // their A; a loaded factor has no NaN).
        case (.encoded(let ld, let l), .encoded(let rd, let r)) where ld == rd && l == r:
            let nonFinite = l.withUnsafeBytes { raw in
                raw.baseAddress.map { HalfPrecision.containsNonFinite(ld, at: $0, count: lhs.count) } ?? false
            }
            return !nonFinite || lhs.matrix.elements == rhs.matrix.elements
        default: return lhs.matrix.elements == rhs.matrix.elements
        }
    }
}
