import Foundation
import Testing

@testable import AdapterCore

@Suite("SafeTensorsReadScan: the header and the NaN/∞ scan done as the file is read")
struct SafeTensorsReadScanTests {
    /// A file of three 2-D tensors in `dtype` (one finite, one with a NaN, one with −∞ at given places)
    /// and a one-element I64 tensor, with a header length that is not a multiple of any element size.
    static func file(_ dtype: DType) throws -> Data {
        var writer = SafeTensorsWriter()
        let values = (0..<(5 * 7)).map { Double($0 % 11) - 5 }
        try writer.add("a_finite", shape: [5, 7], values: values, dtype: dtype)
        try writer.add("b_nan", shape: [5, 7], values: values, dtype: dtype)
        try writer.add("c_infinity", shape: [7, 5], values: values, dtype: dtype)
        var data = writer.serialized()
        let file = try SafeTensorsFile(data: data)
        let size = dtype.byteSize
        let (nan, infinity): ([UInt8], [UInt8]) = switch dtype {
        case .f16: ([0x01, 0x7E], [0x00, 0xFC])
        case .bf16: ([0xC1, 0x7F], [0x80, 0xFF])
        case .f32: ([0x01, 0x00, 0xC0, 0x7F], [0x00, 0x00, 0x80, 0xFF])
        }
        func patch(_ name: String, element: Int, _ bytes: [UInt8]) {
            let info = file.tensor(named: name)!
            let at = 8 + file.headerLength + info.dataOffsets.lowerBound + element * size
            data.replaceSubrange(at..<(at + size), with: bytes)
        }
        patch("b_nan", element: 17, nan)
        patch("c_infinity", element: 34, infinity)   // the last element: past the last whole 64-bit word for F16
        return data
    }

    /// Each tensor's factor and first NaN/∞ index, as the file gives them.
    static func factors(_ file: SafeTensorsFile) throws -> [String: (FactorMatrix, Int?)] {
        var out: [String: (FactorMatrix, Int?)] = [:]
        for name in ["a_finite", "b_nan", "c_infinity"] {
            let (factor, first) = try file.checkedFactor(name)
            out[name] = (factor, first)
        }
        return out
    }

    @Test(arguments: [DType.f16, .bf16, .f32])
    func findsWhatTheWholeFileCheckFindsWhateverTheChunks(_ dtype: DType) throws {
        let data = try Self.file(dtype)
        let whole = try Self.factors(try SafeTensorsFile(data: data))
        #expect(whole["a_finite"]!.1 == nil && whole["b_nan"]!.1 == 17 && whole["c_infinity"]!.1 == 34)
        for chunk in [1, 3, 7, 8, 13, 64, 1000, data.count] {
            let scan = SafeTensorsReadScan.scanning(data, chunkBytes: chunk)
            #expect(scan.completed(count: data.count), "chunk \(chunk)")
            #expect(scan.special == [false, true, true], "chunk \(chunk)")
            let file = try SafeTensorsFile(data: data, scan: scan)
            let read = try Self.factors(file)
            for (name, (factor, first)) in whole {
                #expect(read[name]!.1 == first, "\(name), chunk \(chunk)")
                // Bit patterns, so that the NaN compares equal to itself.
                #expect(read[name]!.0.matrix.elements.map(\.bitPattern) == factor.matrix.elements.map(\.bitPattern),
                        "\(name), chunk \(chunk)")
            }
        }
    }

    @Test func aTensorThatIsNotFloatingPointIsSkippedNotScanned() throws {
        let data = SafeTensorsFileReadingTests.threeDTypeFile()   // F32, F16, BF16 and an I64 last
        let scan = SafeTensorsReadScan.scanning(data, chunkBytes: 5)
        #expect(scan.completed(count: data.count))
        #expect(scan.special == [false, false, false, false])
        let file = try SafeTensorsFile(data: data, scan: scan)
        #expect(try file.doubles("h") == [1.0, -0.5])
        #expect(file.tensor(named: "i")?.dtype == .i64)
    }

    @Test func aFileThatChangedSizeWhileReadIsCheckedAsAWhole() throws {
        let data = try Self.file(.f16)
        // fstat said one byte more than was read: the header was validated for another length.
        let scan = SafeTensorsReadScan.scanning(data, chunkBytes: 64, sizeFromFstat: data.count + 1)
        #expect(scan.header == nil || !scan.completed(count: data.count))
        let file = try SafeTensorsFile(data: data, scan: scan)
        #expect(try file.checkedFactor("b_nan").firstNonFinite == 17)
        // Read longer than fstat said: the trailing bytes are refused, as for any buffer.
        let longer = data + Data([0, 0])
        let grown = SafeTensorsReadScan.scanning(longer, chunkBytes: 64, sizeFromFstat: data.count)
        #expect(!grown.completed(count: longer.count))
        let error = try #require(throws: SafeTensorsError.self) { try SafeTensorsFile(data: longer, scan: grown) }
        #expect(error.code == .fileLengthMismatch)
    }

    @Test func anInvalidHeaderGivesTheErrorTheWholeFileGives() throws {
        for (data, code) in [
            (craftedSafeTensors(header: "{\"w\": {\"dtype\": \"F32\",}"), SafeTensorsError.Code.headerNotJSON),
            (craftedSafeTensors(header: "{}", declaredLength: 100_000_001), .headerTooLarge),
            (craftedSafeTensors(header: "{}      ", declaredLength: 100), .headerPastEnd),
            (Data([1, 2, 3]), .fileTooSmall),
        ] {
            let scan = SafeTensorsReadScan.scanning(data, chunkBytes: 2)
            #expect(!scan.completed(count: data.count))
            let error = try #require(throws: SafeTensorsError.self) { try SafeTensorsFile(data: data, scan: scan) }
            #expect(error.code == code)
        }
    }

    @Test func readingAFileFeedsTheScanEveryChunk() throws {
        let data = try Self.file(.bf16)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("scan-\(UUID().uuidString).safetensors")
        try data.write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let scan = SafeTensorsReadScan()
        var reads = 0
        let read = try RegularFile.read(url, maximumBytes: 1 << 20, chunkBytes: 10) { size, bytes, added in
            reads += 1
            #expect(size == data.count && added.upperBound == bytes.count && !added.isEmpty)
            scan.consume(sizeFromFstat: size, bytes, added)
        }
        #expect(read == data)
        #expect(reads == (data.count + 9) / 10)
        #expect(scan.completed(count: read.count) && scan.special == [false, true, true])
    }
}
