import Foundation

/// A validated safetensors buffer: the parsed header plus the bytes, from which tensors are decoded
/// on demand.
///
/// Construction enforces every rule of the reference reader (huggingface/safetensors) and also refuses
/// duplicate tensor names; a value of this type is therefore always internally consistent. Files are
/// memory-mapped, so opening one does not read the tensor data (a mapped file must not be truncated by
/// another process while in use).
public struct SafeTensorsFile: Sendable {
    /// Largest header length the reference reader accepts.
    public static let maximumHeaderLength = 100_000_000

    /// Where one tensor lives and what it holds.
    public struct TensorInfo: Sendable, Hashable {
        public let name: String
        public let dtype: SafeTensorsDType
        public let shape: [Int]
        /// Byte range relative to the start of the data section (after 8 + N).
        public let dataOffsets: Range<Int>
        /// Product of the shape (1 for a scalar).
        public let elementCount: Int
    }

    /// Length N of the JSON header (including its padding).
    public let headerLength: Int
    /// Tensors ordered by their position in the data section.
    public let tensors: [TensorInfo]
    /// The `__metadata__` map, or nil when the header has none.
    public let metadata: [String: String]?
    /// Bytes of the data section (the whole buffer minus 8 + N).
    public var dataByteCount: Int { storage.count - 8 - headerLength }

    private let storage: Data
    private let indexByName: [String: Int]
    /// Per tensor (in `tensors`' order), whether a `SafeTensorsReadScan` found a NaN or ∞ in it as the
    /// file was read; empty when the bytes were not scanned then (`checkedFactor` scans them itself).
    private let scannedSpecial: [Bool]

    /// What the header says: its length N, the tensors by position, the metadata.
    struct Header: Sendable {
        let headerLength: Int
        let tensors: [TensorInfo]
        let metadata: [String: String]?
    }

    /// Memory-maps and validates the file at `url`, which must be a regular file (`RegularFile`).
    public init(contentsOf url: URL) throws(SafeTensorsError) {
        let data: Data
        do {
            data = try RegularFile.map(url)
        } catch {
            throw SafeTensorsError(.unreadableFile, error.message)
        }
        try self.init(data: data)
    }

    /// Validates an in-memory buffer (e.g. bytes received over the socket).
    public init(data: Data) throws(SafeTensorsError) {
        // Work on a zero-based copy of the indices so offsets are simple (no copy of the bytes).
        let storage = data.startIndex == 0 ? data : Data(data)
        let result = storage.withUnsafeBytes { raw in
            Result { () throws(SafeTensorsError) in try Self.validate(raw, totalCount: raw.count) }
        }
        self.init(storage: storage, header: try result.get(), scannedSpecial: [])
    }

    /// The bytes a `SafeTensorsReadScan` watched being read: its header validation and NaN/∞ scan are
    /// used when it saw the whole file (of the size it validated the header against), else the bytes
    /// are validated as by `init(data:)`.
    public init(data: Data, scan: SafeTensorsReadScan) throws(SafeTensorsError) {
        guard data.startIndex == 0, let header = scan.header, scan.completed(count: data.count) else {
            try self.init(data: data)
            return
        }
        self.init(storage: data, header: header, scannedSpecial: scan.special)
    }

    private init(storage: Data, header: Header, scannedSpecial: [Bool]) {
        self.storage = storage
        self.headerLength = header.headerLength
        self.tensors = header.tensors
        self.metadata = header.metadata
        self.scannedSpecial = scannedSpecial
        var index: [String: Int] = [:]
        for (i, t) in tensors.enumerated() { index[t.name] = i }
        self.indexByName = index
    }

    /// The header of a file of `totalCount` bytes validated from the first bytes of it (at least 8 + N),
    /// as `init(data:)` validates it; nil while fewer bytes are there.
    static func header(prefix raw: UnsafeRawBufferPointer, totalCount: Int) throws(SafeTensorsError) -> Header? {
        guard raw.count >= 8 else { return nil }
        let declared = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        guard declared > UInt64(maximumHeaderLength) || raw.count >= 8 + Int(declared) else { return nil }
        return try validate(raw, totalCount: totalCount)
    }

    /// Names of all tensors, sorted.
    public var tensorNames: [String] { tensors.map(\.name).sorted() }

    public func tensor(named name: String) -> TensorInfo? {
        indexByName[name].map { tensors[$0] }
    }

    /// The raw little-endian bytes of a tensor.
    public func bytes(of name: String) throws(SafeTensorsError) -> Data {
        let info = try require(name)
        let start = 8 + headerLength + info.dataOffsets.lowerBound
        return storage.subdata(in: start..<(start + info.dataOffsets.count))
    }

    /// Decodes an F32, F16 or BF16 tensor to `Float`s in row-major order.
    public func floats(_ name: String) throws(SafeTensorsError) -> [Float] {
        let info = try require(name)
        return try decode(info) { Float($0) }
    }

    /// Decodes an F32, F16 or BF16 tensor to `Double`s in row-major order.
    public func doubles(_ name: String) throws(SafeTensorsError) -> [Double] {
        try decodeDoubles(try require(name)).values
    }

    /// Decodes a two-dimensional F32, F16 or BF16 tensor as a `Matrix` (rows = shape[0]).
    public func matrix(_ name: String) throws(SafeTensorsError) -> Matrix {
        try checkedMatrix(name).matrix
    }

    /// Decodes a two-dimensional F32, F16 or BF16 tensor as a `Matrix` (rows = shape[0]) in one pass
    /// over its bytes, straight into the matrix's storage, and reports the row-major index of its first
    /// NaN or infinite element (nil when every element is finite; only then is a second look taken).
    public func checkedMatrix(_ name: String) throws(SafeTensorsError) -> (matrix: Matrix, firstNonFinite: Int?) {
        let info = try require(name)
        guard info.shape.count == 2 else {
            throw SafeTensorsError(
                .notAMatrix, "tensor '\(name)' has shape \(info.shape); a two-dimensional matrix was expected")
        }
        let (values, special) = try decodeDoubles(info)
        let firstNonFinite = special ? values.firstIndex { !$0.isFinite } : nil
        return (Matrix(rows: info.shape[0], cols: info.shape[1], elements: values), firstNonFinite)
    }

    /// A two-dimensional F32, F16 or BF16 tensor kept in its own dtype (a slice of this file's bytes:
    /// no copy, no decoding), and the row-major index of its first NaN or infinite element (nil when
    /// every element is finite; only then is it decoded to find it). The factor shares the file's
    /// buffer, so a file that is memory-mapped must stay unchanged while the factor is in use.
    public func checkedFactor(_ name: String) throws(SafeTensorsError) -> (factor: FactorMatrix, firstNonFinite: Int?) {
        let index = try requireIndex(name)
        let info = tensors[index]
        guard info.shape.count == 2 else {
            throw SafeTensorsError(
                .notAMatrix, "tensor '\(name)' has shape \(info.shape); a two-dimensional matrix was expected")
        }
        let (dtype, count, start) = try floatingPointElements(info)
        let first = storage.startIndex + start
        let bytes = storage[first..<(first + count * dtype.byteSize)]
        let special = scannedSpecial.isEmpty
            ? bytes.withUnsafeBytes { raw in
                guard count > 0, let base = raw.baseAddress else { return false }
                return HalfPrecision.containsNonFinite(dtype, at: base, count: count)
            }
            : scannedSpecial[index]
        let factor = FactorMatrix(rows: info.shape[0], cols: info.shape[1], dtype: dtype, bytes: bytes)
        return (factor, special ? factor.matrix.elements.firstIndex { !$0.isFinite } : nil)
    }

    /// All elements as `Double`s (bulk conversion, `HalfPrecision.decode`) and whether any is NaN or ∞.
    private func decodeDoubles(_ info: TensorInfo) throws(SafeTensorsError) -> (values: [Double], special: Bool) {
        let (dtype, count, start) = try floatingPointElements(info)
        return storage.withUnsafeBytes { raw in HalfPrecision.doubles(dtype, from: raw.baseAddress.map { $0 + start }, count: count) }
    }

    /// The tensor's floating-point dtype, element count and the offset of its first byte in the file;
    /// throws for a dtype that cannot be read as floating-point values.
    private func floatingPointElements(_ info: TensorInfo) throws(SafeTensorsError)
        -> (dtype: DType, count: Int, start: Int) {
        guard let dtype = info.dtype.floatingPoint else {
            throw SafeTensorsError(
                .unsupportedDType,
                "tensor '\(info.name)' has dtype \(info.dtype.rawValue); adapterd reads F32, F16, BF16")
        }
        return (dtype, info.elementCount, 8 + headerLength + info.dataOffsets.lowerBound)
    }

    private func require(_ name: String) throws(SafeTensorsError) -> TensorInfo {
        tensors[try requireIndex(name)]
    }

    /// The tensor's position in `tensors`; throws when there is none of that name.
    private func requireIndex(_ name: String) throws(SafeTensorsError) -> Int {
        guard let index = indexByName[name] else {
            throw SafeTensorsError(.tensorNotFound, "no tensor named '\(name)'")
        }
        return index
    }

    private func decode<T>(_ info: TensorInfo, _ convert: (Float) -> T) throws(SafeTensorsError) -> [T] {
        let (dtype, count, start) = try floatingPointElements(info)
        return storage.withUnsafeBytes { raw in
            [T](unsafeUninitializedCapacity: count) { out, initialized in
                switch dtype {
                case .f32:
                    for i in 0..<count {
                        let bits = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: start + 4 * i, as: UInt32.self))
                        out.initializeElement(at: i, to: convert(Float(bitPattern: bits)))
                    }
                case .f16:
                    for i in 0..<count {
                        let bits = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: start + 2 * i, as: UInt16.self))
                        out.initializeElement(at: i, to: convert(HalfPrecision.float(fromF16: bits)))
                    }
                case .bf16:
                    for i in 0..<count {
                        let bits = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: start + 2 * i, as: UInt16.self))
                        out.initializeElement(at: i, to: convert(HalfPrecision.float(fromBF16: bits)))
                    }
                }
                initialized = count
            }
        }
    }

    // MARK: - Validation

    /// `raw`: the first bytes of a buffer of `totalCount` bytes, at least its 8 + N (or all of it).
    private static func validate(_ raw: UnsafeRawBufferPointer, totalCount: Int) throws(SafeTensorsError) -> Header {
        guard raw.count >= 8 else {
            throw SafeTensorsError(.fileTooSmall, "\(raw.count) bytes is too small to hold the 8-byte header length")
        }
        let declared = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        guard declared <= UInt64(maximumHeaderLength) else {
            throw SafeTensorsError(
                .headerTooLarge, "header length \(declared) exceeds the limit of \(maximumHeaderLength) bytes")
        }
        let n = Int(declared)
        guard 8 + n <= raw.count, 8 + n <= totalCount else {
            throw SafeTensorsError(
                .headerPastEnd, "header of \(n) bytes extends past the end of the \(totalCount)-byte buffer")
        }
        let headerBytes = UnsafeRawBufferPointer(rebasing: raw[8..<(8 + n)])
        guard String(validating: headerBytes, as: UTF8.self) != nil else {
            throw SafeTensorsError(.headerNotUTF8, "header is not valid UTF-8")
        }
        guard headerBytes.first == UInt8(ascii: "{") else {
            throw SafeTensorsError(.headerNotObject, "header must be a JSON object starting with '{'")
        }
        let json: StrictJSON.Value
        do {
            json = try StrictJSON.parse(headerBytes)
        } catch {
            if case .duplicateKey(let key, depth: 1) = error {
                throw SafeTensorsError(.duplicateTensorName, "tensor name '\(key)' appears more than once")
            }
            throw SafeTensorsError(.headerNotJSON, "header is not valid JSON: \(error.description)")
        }
        guard let members = json.members else {
            throw SafeTensorsError(.headerNotObject, "header is \(json.kindName), not a JSON object")
        }

        var metadata: [String: String]?
        var tensors: [TensorInfo] = []
        tensors.reserveCapacity(members.count)
        for member in members {
            if member.key == "__metadata__" {
                metadata = try parseMetadata(member.value)
            } else {
                tensors.append(try parseEntry(name: member.key, member.value))
            }
        }

        tensors.sort {
            ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound)
        }
        var expectedStart = 0
        for t in tensors {
            guard t.dataOffsets.lowerBound == expectedStart else {
                let what = t.dataOffsets.lowerBound > expectedStart ? "a gap" : "an overlap"
                throw SafeTensorsError(
                    .offsetsNotContiguous,
                    "tensor '\(t.name)' starts at byte \(t.dataOffsets.lowerBound) but the previous data ends at "
                        + "\(expectedStart) (\(what)); tensors must be contiguous from offset 0")
            }
            expectedStart = t.dataOffsets.upperBound
        }
        let dataLength = totalCount - 8 - n
        guard dataLength == expectedStart else {
            let detail = dataLength > expectedStart
                ? "\(dataLength - expectedStart) trailing bytes after the last tensor"
                : "\(expectedStart - dataLength) bytes missing"
            throw SafeTensorsError(
                .fileLengthMismatch,
                "buffer is \(totalCount) bytes but 8 + header \(n) + data \(expectedStart) = "
                    + "\(8 + n + expectedStart) (\(detail))")
        }
        return Header(headerLength: n, tensors: tensors, metadata: metadata)
    }

    private static func parseMetadata(_ value: StrictJSON.Value) throws(SafeTensorsError) -> [String: String]? {
        if value.isNull { return nil }
        guard let members = value.members else {
            throw SafeTensorsError(.invalidMetadata, "__metadata__ is \(value.kindName), not an object of strings")
        }
        var out: [String: String] = [:]
        for m in members {
            guard let s = m.value.string else {
                throw SafeTensorsError(
                    .invalidMetadata, "__metadata__ entry '\(m.key)' is \(m.value.kindName); only strings are allowed")
            }
            out[m.key] = s
        }
        return out
    }

    private static func parseEntry(name: String, _ value: StrictJSON.Value) throws(SafeTensorsError) -> TensorInfo {
        guard let members = value.members else {
            throw SafeTensorsError(
                .invalidTensorEntry, "entry '\(name)' is \(value.kindName), not {dtype, shape, data_offsets}")
        }
        if let extra = members.first(where: { $0.key != "dtype" && $0.key != "shape" && $0.key != "data_offsets" }) {
            throw SafeTensorsError(
                .invalidTensorEntry, "entry '\(name)' has an unexpected field '\(extra.key)'")
        }
        guard let dtypeValue = value["dtype"], let shapeValue = value["shape"], let offsetsValue = value["data_offsets"]
        else {
            throw SafeTensorsError(
                .invalidTensorEntry, "entry '\(name)' must have the fields dtype, shape and data_offsets")
        }
        guard let dtypeName = dtypeValue.string else {
            throw SafeTensorsError(.invalidTensorEntry, "dtype of '\(name)' is \(dtypeValue.kindName), not a string")
        }
        guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
            throw SafeTensorsError(.unknownDType, "tensor '\(name)' has unknown dtype '\(dtypeName)'")
        }
        guard let dims = shapeValue.elements else {
            throw SafeTensorsError(.invalidTensorEntry, "shape of '\(name)' is \(shapeValue.kindName), not an array")
        }
        var shape: [Int] = []
        shape.reserveCapacity(dims.count)
        for d in dims {
            guard let v = d.integer, v >= 0 else {
                let text = if case .number(let t) = d { t } else { d.kindName }
                throw SafeTensorsError(
                    .invalidShape, "shape of '\(name)' has dimension \(text); dimensions are non-negative integers")
            }
            shape.append(v)
        }
        guard let offsets = offsetsValue.elements, offsets.count == 2,
            let begin = offsets[0].integer, let end = offsets[1].integer, begin >= 0, end >= begin
        else {
            throw SafeTensorsError(
                .invalidDataOffsets, "data_offsets of '\(name)' must be [begin, end] with 0 ≤ begin ≤ end")
        }
        var elements = 1
        for d in shape {
            let (p, overflow) = elements.multipliedReportingOverflow(by: d)
            guard !overflow else {
                throw SafeTensorsError(.sizeOverflow, "shape \(shape) of '\(name)' overflows when multiplied out")
            }
            elements = p
        }
        let (bits, overflow) = elements.multipliedReportingOverflow(by: dtype.bitSize)
        guard !overflow else {
            throw SafeTensorsError(
                .sizeOverflow, "shape \(shape) × \(dtype.rawValue) size of '\(name)' overflows")
        }
        guard bits % 8 == 0, bits / 8 == end - begin else {
            throw SafeTensorsError(
                .sizeMismatch,
                "tensor '\(name)' (\(dtype.rawValue) \(shape)) needs \(Double(bits) / 8) bytes but its "
                    + "data_offsets span \(end - begin)")
        }
        return TensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end, elementCount: elements)
    }
}
