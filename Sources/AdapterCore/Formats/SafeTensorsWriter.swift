import Foundation

/// Builds a safetensors buffer from named F32/F16/BF16 tensors plus optional string metadata.
///
/// Output is deterministic: `__metadata__` first, then tensors sorted by name, their data laid out in
/// the same order; the JSON header is padded with spaces to a multiple of 8 bytes. Values are checked
/// on `add`: NaN, infinities and values that overflow the chosen dtype are refused.
public struct SafeTensorsWriter: Sendable {
    /// The shape and dtype of one tensor, enough to predict the file layout without its values.
    public struct TensorLayout: Sendable, Hashable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]

        public init(name: String, dtype: DType, shape: [Int]) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
        }

        var elementCount: Int { shape.reduce(1, *) }
        var byteCount: Int { elementCount * dtype.byteSize }
    }

    private struct Entry: Sendable {
        let layout: TensorLayout
        let bytes: [UInt8]
    }

    /// String metadata written as `__metadata__` (omitted when empty).
    public var metadata: [String: String]
    private var entries: [String: Entry] = [:]

    public init(metadata: [String: String] = [:]) {
        self.metadata = metadata
    }

    /// Names added so far, sorted.
    public var tensorNames: [String] { entries.keys.sorted() }

    /// Adds a matrix as a two-dimensional tensor of shape [rows, cols].
    public mutating func add(_ name: String, matrix: Matrix, dtype: DType) throws(SafeTensorsError) {
        try add(name, shape: [matrix.rows, matrix.cols], values: matrix.elements, dtype: dtype)
    }

    /// Adds a tensor given its row-major values.
    public mutating func add(_ name: String, shape: [Int], values: [Double], dtype: DType) throws(SafeTensorsError) {
        guard name != "__metadata__", !name.isEmpty else {
            throw SafeTensorsError(.invalidTensor, "'\(name)' cannot be used as a tensor name")
        }
        guard entries[name] == nil else {
            throw SafeTensorsError(.duplicateTensorName, "tensor '\(name)' was added twice")
        }
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw SafeTensorsError(.invalidTensor, "tensor '\(name)' has a negative dimension in \(shape)")
        }
        var count = 1
        for d in shape {
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw SafeTensorsError(.sizeOverflow, "shape \(shape) of '\(name)' overflows") }
            count = p
        }
        guard count == values.count else {
            throw SafeTensorsError(
                .invalidTensor, "tensor '\(name)' has \(values.count) values but shape \(shape) holds \(count)")
        }
        let bytes = try Self.encode(values, as: dtype, name: name)
        entries[name] = Entry(layout: TensorLayout(name: name, dtype: dtype, shape: shape), bytes: bytes)
    }

    /// The complete safetensors buffer.
    public func serialized() -> Data {
        let layouts = entries.keys.sorted().map { entries[$0]!.layout }
        let header = Self.header(for: layouts, metadata: metadata)
        var out = Data()
        out.reserveCapacity(8 + header.count + layouts.reduce(0) { $0 + $1.byteCount })
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        for name in entries.keys.sorted() {
            out.append(contentsOf: entries[name]!.bytes)
        }
        return out
    }

    /// Size in bytes of `serialized()`.
    public var byteSize: Int {
        Self.predictedByteSize(of: entries.values.map(\.layout), metadata: metadata)
    }

    /// Writes the buffer to `url` through a temporary file in the same directory, fsync and rename.
    public func write(to url: URL) throws(SafeTensorsError) {
        do {
            try DurableFile.write(serialized(), to: url)
        } catch {
            throw SafeTensorsError(.writeFailed, "cannot write '\(url.path)': \(error)")
        }
    }

    /// The exact size of the file this writer would produce for these tensors and metadata.
    public static func predictedByteSize(of tensors: [TensorLayout], metadata: [String: String] = [:]) -> Int {
        let sorted = tensors.sorted { $0.name < $1.name }
        return 8 + header(for: sorted, metadata: metadata).count + sorted.reduce(0) { $0 + $1.byteCount }
    }

    /// The padded JSON header for tensors already in name order.
    static func header(for sorted: [TensorLayout], metadata: [String: String]) -> [UInt8] {
        var members: [StrictJSON.Member] = []
        if !metadata.isEmpty {
            let meta = metadata.keys.sorted().map { StrictJSON.Member(key: $0, value: .string(metadata[$0]!)) }
            members.append(StrictJSON.Member(key: "__metadata__", value: .object(meta)))
        }
        var offset = 0
        for t in sorted {
            let end = offset + t.byteCount
            members.append(
                StrictJSON.Member(
                    key: t.name,
                    value: .object([
                        StrictJSON.Member(key: "dtype", value: .string(SafeTensorsDType(t.dtype).rawValue)),
                        StrictJSON.Member(key: "shape", value: .array(t.shape.map { StrictJSON.number($0) })),
                        StrictJSON.Member(
                            key: "data_offsets", value: .array([StrictJSON.number(offset), StrictJSON.number(end)])),
                    ])))
            offset = end
        }
        var bytes = Array(StrictJSON.serialize(.object(members)).utf8)
        let padding = (8 - bytes.count % 8) % 8
        bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: padding))
        return bytes
    }

    private static func encode(_ values: [Double], as dtype: DType, name: String) throws(SafeTensorsError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: values.count * dtype.byteSize)
        var bad: (Int, Double)?
        if dtype == .f16 {
            // One branch-free pass; the offending element is looked for only when the pass saw one.
            let special = out.withUnsafeMutableBytes { raw in
                values.withUnsafeBufferPointer { source in
                    guard let from = source.baseAddress, let to = raw.baseAddress else { return false }
                    return HalfPrecision.encodeF16(from, count: source.count, into: to)
                }
            }
            if special, let i = values.firstIndex(where: { HalfPrecision.f16Bits(from: $0) & 0x7C00 == 0x7C00 }) {
                bad = (i, values[i])
            }
        } else {
            out.withUnsafeMutableBytes { raw in
                for (i, v) in values.enumerated() {
                    let f = Float(v)
                    guard v.isFinite, f.isFinite else { bad = (i, v); return }
                    if dtype == .f32 {
                        raw.storeBytes(of: f.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
                    } else {
                        let b = HalfPrecision.bf16Bits(from: f)
                        guard HalfPrecision.float(fromBF16: b).isFinite else { bad = (i, v); return }
                        raw.storeBytes(of: b.littleEndian, toByteOffset: 2 * i, as: UInt16.self)
                    }
                }
            }
        }
        if let (i, v) = bad {
            throw SafeTensorsError(
                .valueNotRepresentable,
                "tensor '\(name)' element \(i) is \(v), which \(dtype.rawValue) cannot hold as a finite value")
        }
        return out
    }
}
