import Foundation

/// Builds a GGUF (version 3) file in memory: metadata key/value pairs and tensors, laid out as
/// llama.cpp's `gguf` reader expects.
///
/// Layout (all integers little-endian): magic `GGUF`, version (u32 = 3), tensor count (u64),
/// key/value count (u64); each pair as key (string), value type (u32), value; each tensor's info as
/// name (string), dimension count (u32), dimensions (u64 each, in GGML order: innermost first, i.e. the
/// reverse of the row-major shape numpy and PyTorch print), GGML type (u32), offset of its data from
/// the start of the data section (u64, a multiple of the alignment); zero padding to the alignment;
/// then each tensor's data, each padded with zeros to the alignment. A string is its UTF-8 byte count
/// (u64) then the bytes. The alignment is 32 unless `general.alignment` says otherwise; this writer
/// always uses 32 and so never writes that key.
public struct GGUFWriter: Sendable {
    /// The four bytes every GGUF file starts with.
    public static let magic: [UInt8] = Array("GGUF".utf8)
    /// The format version written.
    public static let version: UInt32 = 3
    /// Alignment of the data section and of every tensor in it.
    public static let alignment = 32

    /// A metadata value with its GGUF value type.
    public enum Value: Sendable, Equatable {
        case uint32(UInt32)
        case int32(Int32)
        case float32(Float)
        case bool(Bool)
        case string(String)
        case uint64(UInt64)
        case float64(Double)

        /// The GGUF value type code (`GGUFValueType` in gguf-py).
        public var typeCode: UInt32 {
            switch self {
            case .uint32: 4
            case .int32: 5
            case .float32: 6
            case .bool: 7
            case .string: 8
            case .uint64: 10
            case .float64: 12
            }
        }
    }

    /// The tensor element types written (GGML type codes).
    public enum TensorType: UInt32, Sendable, CaseIterable {
        case f32 = 0
        case f16 = 1
        case bf16 = 30

        public init(_ dtype: DType) {
            switch dtype {
            case .f32: self = .f32
            case .f16: self = .f16
            case .bf16: self = .bf16
            }
        }

        public var byteSize: Int { self == .f32 ? 4 : 2 }
    }

    private var keyValues: [(String, Value)] = []
    private var tensorInfos: [(name: String, shape: [Int], type: TensorType, offset: Int)] = []
    private var data: [UInt8] = []

    public init() {}

    /// Adds a metadata pair; keys are written in the order added.
    public mutating func add(_ key: String, _ value: Value) throws(GGUFError) {
        guard !keyValues.contains(where: { $0.0 == key }) else { throw GGUFError(.duplicateName, "key '\(key)' added twice") }
        keyValues.append((key, value))
    }

    /// Adds a tensor of row-major `shape` (as numpy/PyTorch give it; written reversed) with `values`
    /// in row-major order, encoded as `type` (rounded to nearest; non-finite results refused).
    public mutating func addTensor(_ name: String, shape: [Int], values: [Double], type: TensorType) throws(GGUFError) {
        guard !tensorInfos.contains(where: { $0.name == name }) else {
            throw GGUFError(.duplicateName, "tensor '\(name)' added twice")
        }
        guard !shape.isEmpty, shape.allSatisfy({ $0 > 0 }), shape.reduce(1, *) == values.count else {
            throw GGUFError(.invalidTensor, "tensor '\(name)' has shape \(shape) and \(values.count) values")
        }
        let encoded = try Self.encode(values, as: type, name: name)
        tensorInfos.append((name, shape, type, data.count))
        data.append(contentsOf: encoded)
        data.append(contentsOf: repeatElement(0, count: Self.padding(data.count)))
    }

    /// The whole file.
    public func serialized() -> Data {
        var out: [UInt8] = []
        out.append(contentsOf: Self.magic)
        Self.append(Self.version, to: &out)
        Self.append(UInt64(tensorInfos.count), to: &out)
        Self.append(UInt64(keyValues.count), to: &out)
        for (key, value) in keyValues {
            Self.append(string: key, to: &out)
            Self.append(value.typeCode, to: &out)
            switch value {
            case .uint32(let v): Self.append(v, to: &out)
            case .int32(let v): Self.append(UInt32(bitPattern: v), to: &out)
            case .float32(let v): Self.append(v.bitPattern, to: &out)
            case .bool(let v): out.append(v ? 1 : 0)
            case .string(let v): Self.append(string: v, to: &out)
            case .uint64(let v): Self.append(v, to: &out)
            case .float64(let v): Self.append(v.bitPattern, to: &out)
            }
        }
        for info in tensorInfos {
            Self.append(string: info.name, to: &out)
            Self.append(UInt32(info.shape.count), to: &out)
            for dim in info.shape.reversed() { Self.append(UInt64(dim), to: &out) }
            Self.append(info.type.rawValue, to: &out)
            Self.append(UInt64(info.offset), to: &out)
        }
        out.append(contentsOf: repeatElement(0, count: Self.padding(out.count)))
        out.append(contentsOf: data)
        return Data(out)
    }

    /// Zero bytes needed after `count` bytes to reach the alignment.
    static func padding(_ count: Int) -> Int { (alignment - count % alignment) % alignment }

    private static func append<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    private static func append(string: String, to out: inout [UInt8]) {
        let bytes = Array(string.utf8)
        append(UInt64(bytes.count), to: &out)
        out.append(contentsOf: bytes)
    }

    private static func encode(_ values: [Double], as type: TensorType, name: String) throws(GGUFError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(values.count * type.byteSize)
        for (i, v) in values.enumerated() {
            let finite: Bool
            switch type {
            case .f32:
                let f = Float(v)
                finite = f.isFinite
                append(f.bitPattern, to: &out)
            case .f16:
                let h = Float16(v)
                finite = h.isFinite
                append(h.bitPattern, to: &out)
            case .bf16:
                let bits = HalfPrecision.bf16Bits(from: Float(v))
                finite = HalfPrecision.float(fromBF16: bits).isFinite
                append(bits, to: &out)
            }
            guard v.isFinite, finite else {
                throw GGUFError(.invalidTensor, "tensor '\(name)' element \(i) is \(v), which \(type) cannot hold as a finite value")
            }
        }
        return out
    }
}
