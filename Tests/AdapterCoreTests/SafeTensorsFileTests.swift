import Foundation
import Testing

@testable import AdapterCore

/// Builds a safetensors buffer by hand: an 8-byte length (the header's own unless overridden), the
/// header bytes, then `data`.
func craftedSafeTensors(header: String, data: [UInt8] = [], declaredLength: UInt64? = nil) -> Data {
    craftedSafeTensors(headerBytes: Array(header.utf8), data: data, declaredLength: declaredLength)
}

func craftedSafeTensors(headerBytes: [UInt8], data: [UInt8] = [], declaredLength: UInt64? = nil) -> Data {
    var out = Data()
    withUnsafeBytes(of: (declaredLength ?? UInt64(headerBytes.count)).littleEndian) { out.append(contentsOf: $0) }
    out.append(contentsOf: headerBytes)
    out.append(contentsOf: data)
    return out
}

/// Expects `SafeTensorsFile(data:)` to refuse the buffer with exactly `code`.
func expectRefused(_ data: Data, _ code: SafeTensorsError.Code, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        let file = try SafeTensorsFile(data: data)
        Issue.record("accepted a malformed buffer with tensors \(file.tensorNames)", sourceLocation: sourceLocation)
    } catch {
        #expect(error.code == code, "\(error.message)", sourceLocation: sourceLocation)
        #expect(!error.message.isEmpty, sourceLocation: sourceLocation)
    }
}

@Suite("SafeTensorsFile: one refusal per rule of the reference reader")
struct SafeTensorsFileRuleTests {
    @Test func fileShorterThanEightBytes() {
        expectRefused(Data([1, 2, 3, 4, 5]), .fileTooSmall)
        expectRefused(Data(), .fileTooSmall)
    }

    @Test func headerLengthAboveOneHundredMillion() {
        expectRefused(craftedSafeTensors(header: "{}", declaredLength: 100_000_001), .headerTooLarge)
        expectRefused(craftedSafeTensors(header: "{}", declaredLength: UInt64.max), .headerTooLarge)
    }

    @Test func headerExtendingPastTheFile() {
        expectRefused(craftedSafeTensors(header: "{}      ", declaredLength: 100), .headerPastEnd)
    }

    @Test func headerNotUTF8() {
        let bytes: [UInt8] = Array("{\"a".utf8) + [0xFF, 0xFE] + Array("\":1}".utf8)
        expectRefused(craftedSafeTensors(headerBytes: bytes), .headerNotUTF8)
    }

    @Test func headerNotJSON() {
        expectRefused(craftedSafeTensors(header: "{\"w\": {\"dtype\": \"F32\",}"), .headerNotJSON)
        expectRefused(craftedSafeTensors(header: "{} x"), .headerNotJSON)
        // Nesting far beyond any real header is refused, not a stack overflow.
        let deep = "{\"a\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}"
        expectRefused(craftedSafeTensors(header: deep), .headerNotJSON)
    }

    @Test func headerNotAnObject() {
        expectRefused(craftedSafeTensors(header: "[1, 2]  "), .headerNotObject)
        expectRefused(craftedSafeTensors(header: "  {}    "), .headerNotObject)
    }

    @Test func entryNotOfTheFormDtypeShapeOffsets() {
        expectRefused(craftedSafeTensors(header: #"{"w": "F32"}"#), .invalidTensorEntry)
        expectRefused(craftedSafeTensors(header: #"{"w": {"dtype": "F32", "shape": [1]}}"#), .invalidTensorEntry)
        expectRefused(
            craftedSafeTensors(
                header: #"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "extra": 1}}"#, data: [0, 0, 0, 0]),
            .invalidTensorEntry)
        expectRefused(
            craftedSafeTensors(header: #"{"w": {"dtype": 3, "shape": [1], "data_offsets": [0, 4]}}"#, data: [0, 0, 0, 0]),
            .invalidTensorEntry)
        expectRefused(
            craftedSafeTensors(header: #"{"w": {"dtype": "F32", "shape": 1, "data_offsets": [0, 4]}}"#, data: [0, 0, 0, 0]),
            .invalidTensorEntry)
    }

    @Test func unknownDType() {
        expectRefused(
            craftedSafeTensors(header: #"{"w": {"dtype": "F7", "shape": [1], "data_offsets": [0, 1]}}"#, data: [0]),
            .unknownDType)
    }

    @Test func metadataNotStringToString() {
        expectRefused(craftedSafeTensors(header: #"{"__metadata__": {"format": 1}}"#), .invalidMetadata)
        expectRefused(craftedSafeTensors(header: #"{"__metadata__": "pt"}"#), .invalidMetadata)
        expectRefused(craftedSafeTensors(header: #"{"__metadata__": {"a": {"b": "c"}}}"#), .invalidMetadata)
    }

    @Test func duplicateTensorNames() {
        // JSONSerialization would silently keep one of the two entries.
        let header = #"{"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, "#
            + #""w": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}}"#
        expectRefused(craftedSafeTensors(header: header, data: [1, 2]), .duplicateTensorName)
    }

    @Test func negativeOrNonIntegerDimensions() {
        for dims in ["[-1]", "[2.5]", "[\"2\"]", "[1e2]", "[99999999999999999999999]"] {
            expectRefused(
                craftedSafeTensors(header: "{\"w\": {\"dtype\": \"U8\", \"shape\": \(dims), \"data_offsets\": [0, 1]}}",
                                   data: [0]),
                .invalidShape)
        }
    }

    @Test func malformedDataOffsets() {
        for offsets in ["[4, 0]", "[0]", "[-1, 0]", "[0, 1, 2]", "[0.0, 1]"] {
            expectRefused(
                craftedSafeTensors(header: "{\"w\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": \(offsets)}}",
                                   data: [0]),
                .invalidDataOffsets)
        }
    }

    @Test func gapBetweenTensors() {
        let header = #"{"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}, "#
            + #""b": {"dtype": "U8", "shape": [2], "data_offsets": [3, 5]}}"#
        expectRefused(craftedSafeTensors(header: header, data: [0, 0, 0, 0, 0]), .offsetsNotContiguous)
    }

    @Test func firstTensorNotAtOffsetZero() {
        let header = #"{"a": {"dtype": "U8", "shape": [2], "data_offsets": [1, 3]}}"#
        expectRefused(craftedSafeTensors(header: header, data: [0, 0, 0]), .offsetsNotContiguous)
    }

    @Test func overlappingTensors() {
        let header = #"{"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}, "#
            + #""b": {"dtype": "U8", "shape": [2], "data_offsets": [2, 4]}}"#
        expectRefused(craftedSafeTensors(header: header, data: [0, 0, 0, 0]), .offsetsNotContiguous)
    }

    @Test func shapeTimesDTypeSizeOverflows() {
        let header = #"{"w": {"dtype": "F32", "shape": [4611686018427387904, 4], "data_offsets": [0, 4]}}"#
        expectRefused(craftedSafeTensors(header: header, data: [0, 0, 0, 0]), .sizeOverflow)
        let header2 = #"{"w": {"dtype": "F64", "shape": [2305843009213693952], "data_offsets": [0, 4]}}"#
        expectRefused(craftedSafeTensors(header: header2, data: [0, 0, 0, 0]), .sizeOverflow)
    }

    @Test func byteSpanDiffersFromShapeTimesDTypeSize() {
        let header = #"{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}"#
        expectRefused(craftedSafeTensors(header: header, data: [0, 0, 0, 0]), .sizeMismatch)
        // Sub-byte dtypes must fill whole bytes.
        let header2 = #"{"w": {"dtype": "F4", "shape": [3], "data_offsets": [0, 1]}}"#
        expectRefused(craftedSafeTensors(header: header2, data: [0]), .sizeMismatch)
    }

    @Test func trailingBytesAfterTheLastTensor() {
        let header = #"{"w": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}}"#
        expectRefused(craftedSafeTensors(header: header, data: [1, 2, 3]), .fileLengthMismatch)
        expectRefused(craftedSafeTensors(header: "{}", data: [0]), .fileLengthMismatch)
    }

    @Test func dataShorterThanTheLastTensorEnd() {
        let header = #"{"w": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}}"#
        expectRefused(craftedSafeTensors(header: header, data: [1, 2]), .fileLengthMismatch)
    }
}

@Suite("SafeTensorsFile: reading valid buffers")
struct SafeTensorsFileReadingTests {
    static let f32Bytes: [UInt8] = [1.5, -2.25].flatMap { (f: Float) in withUnsafeBytes(of: f.bitPattern.littleEndian, Array.init) }
    // F16 1.0 = 0x3C00, -0.5 = 0xB800; BF16 3.0 = 0x4040, -1.0 = 0xBF80.
    static let f16Bytes: [UInt8] = [0x00, 0x3C, 0x00, 0xB8]
    static let bf16Bytes: [UInt8] = [0x40, 0x40, 0x80, 0xBF]

    static func threeDTypeFile() -> Data {
        let header = #"{"__metadata__": {"format": "pt"}, "#
            + #""h": {"dtype": "F16", "shape": [2], "data_offsets": [8, 12]}, "#
            + #""f": {"dtype": "F32", "shape": [1, 2], "data_offsets": [0, 8]}, "#
            + #""b": {"dtype": "BF16", "shape": [2, 1], "data_offsets": [12, 16]}, "#
            + #""i": {"dtype": "I64", "shape": [1], "data_offsets": [16, 24]}}    "#
        return craftedSafeTensors(header: header, data: f32Bytes + f16Bytes + bf16Bytes + [7, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test func decodesF32F16BF16() throws {
        let file = try SafeTensorsFile(data: Self.threeDTypeFile())
        #expect(try file.floats("f") == [1.5, -2.25])
        #expect(try file.doubles("h") == [1.0, -0.5])
        #expect(try file.doubles("b") == [3.0, -1.0])
        let m = try file.matrix("b")
        #expect(m.rows == 2 && m.cols == 1 && m.elements == [3.0, -1.0])
        #expect(file.metadata == ["format": "pt"])
        #expect(file.tensors.map(\.name) == ["f", "h", "b", "i"])  // data order
        #expect(file.tensorNames == ["b", "f", "h", "i"])
        #expect(file.tensor(named: "i")?.dtype == .i64)
        #expect(file.dataByteCount == 24)
    }

    @Test func otherDTypesAreListedButNotReadAsFloats() throws {
        let file = try SafeTensorsFile(data: Self.threeDTypeFile())
        let error = try #require(throws: SafeTensorsError.self) { try file.doubles("i") }
        #expect(error.code == .unsupportedDType)
        #expect(error.message.contains("I64") && error.message.contains("'i'"))
        #expect(try file.bytes(of: "i") == Data([7, 0, 0, 0, 0, 0, 0, 0]))
    }

    @Test func missingTensorAndNonMatrix() throws {
        let file = try SafeTensorsFile(data: Self.threeDTypeFile())
        #expect(throws: SafeTensorsError(.tensorNotFound, "no tensor named 'zz'")) { try file.floats("zz") }
        let error = try #require(throws: SafeTensorsError.self) { try file.matrix("h") }
        #expect(error.code == .notAMatrix)
    }

    @Test func emptyHeaderAndEmptyTensorsAreValid() throws {
        let file = try SafeTensorsFile(data: craftedSafeTensors(header: "{}      "))
        #expect(file.tensors.isEmpty && file.metadata == nil)
        let header = #"{"e": {"dtype": "F32", "shape": [0, 3], "data_offsets": [0, 0]}, "__metadata__": null}"#
        let withEmpty = try SafeTensorsFile(data: craftedSafeTensors(header: header))
        #expect(try withEmpty.matrix("e").rows == 0)
    }

    @Test func acceptsASliceWithNonZeroStartIndex() throws {
        let whole = Data([9, 9, 9]) + Self.threeDTypeFile()
        let slice = whole[3...]
        #expect(slice.startIndex == 3)
        #expect(try SafeTensorsFile(data: slice).floats("f") == [1.5, -2.25])
    }

    @Test func readsAMappedFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("x.safetensors")
        try Self.threeDTypeFile().write(to: url)
        #expect(try SafeTensorsFile(contentsOf: url).doubles("h") == [1.0, -0.5])

        let empty = dir.appendingPathComponent("empty.safetensors")
        try Data().write(to: empty)
        let e1 = try #require(throws: SafeTensorsError.self) { try SafeTensorsFile(contentsOf: empty) }
        #expect(e1.code == .fileTooSmall)
        let e2 = try #require(throws: SafeTensorsError.self) {
            try SafeTensorsFile(contentsOf: dir.appendingPathComponent("missing.safetensors"))
        }
        #expect(e2.code == .unreadableFile)
    }

    @Test func nonFiniteValuesAreDecodedNotRefusedByTheContainer() throws {
        // The format does not check values; the PEFT loader does (see PEFTAdapterLoaderTests).
        let nan: [UInt8] = withUnsafeBytes(of: Float.nan.bitPattern.littleEndian, Array.init)
        let header = #"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}"#
        #expect(try SafeTensorsFile(data: craftedSafeTensors(header: header, data: nan)).floats("w")[0].isNaN)
    }
}

@Suite("SafeTensorsFile: damaged buffers give errors, never crashes")
struct SafeTensorsFileRobustnessTests {
    static func validBuffer() throws -> Data {
        var w = SafeTensorsWriter(metadata: ["format": "pt"])
        try w.add("a.lora_A.weight", matrix: Matrix(rows: 2, cols: 3, elements: [1, 2, 3, 4, 5, 6]), dtype: .f16)
        try w.add("a.lora_B.weight", matrix: Matrix(rows: 3, cols: 2, elements: [1, 2, 3, 4, 5, 6]), dtype: .bf16)
        try w.add("z", shape: [4], values: [1, 2, 3, 4], dtype: .f32)
        return w.serialized()
    }

    /// Every outcome must be a successfully validated file or a SafeTensorsError.
    static func openAndReadEverything(_ data: Data) -> SafeTensorsError.Code? {
        do {
            let file = try SafeTensorsFile(data: data)
            for t in file.tensors where t.dtype.floatingPoint != nil { _ = try file.doubles(t.name) }
            return nil
        } catch {
            return error.code
        }
    }

    @Test func everyTruncationIsRefused() throws {
        let valid = try Self.validBuffer()
        #expect(Self.openAndReadEverything(valid) == nil)
        for length in 0..<valid.count {
            #expect(Self.openAndReadEverything(valid.prefix(length)) != nil, "truncated to \(length) bytes")
        }
    }

    @Test func singleByteCorruptionsNeverCrash() throws {
        let valid = try Self.validBuffer()
        var prefixDamage = 0
        var prefixRefused = 0
        for position in 0..<valid.count {
            for replacement: UInt8 in [0x00, 0x22, 0x2C, 0x31, 0x7B, 0x7D, 0xFF] where valid[position] != replacement {
                var damaged = valid
                damaged[position] = replacement
                let outcome = Self.openAndReadEverything(damaged)
                if position < 8 {
                    prefixDamage += 1
                    if outcome != nil { prefixRefused += 1 }
                }
            }
        }
        // Any change of the header length moves the header/data split, which can never stay consistent.
        #expect(prefixDamage > 0 && prefixRefused == prefixDamage)
    }
}
