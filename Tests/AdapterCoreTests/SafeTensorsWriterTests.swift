import Foundation
import Testing

@testable import AdapterCore

@Suite("SafeTensorsWriter")
struct SafeTensorsWriterTests {
    static let values: [Double] = [0.5, -1.25, 3.0, 1e-3, -7.5, 0.1]

    @Test(arguments: DType.allCases)
    func roundTripsEachDType(dtype: DType) throws {
        var w = SafeTensorsWriter(metadata: ["format": "pt", "note": "a \"quoted\" value\n"])
        try w.add("layer.weight", shape: [2, 3], values: Self.values, dtype: dtype)
        try w.add("bias", shape: [3], values: [1, 2, 3], dtype: dtype)
        let data = w.serialized()
        let file = try SafeTensorsFile(data: data)
        #expect(file.metadata == ["format": "pt", "note": "a \"quoted\" value\n"])
        #expect(file.tensor(named: "layer.weight")?.shape == [2, 3])
        #expect(file.tensor(named: "layer.weight")?.dtype == SafeTensorsDType(dtype))
        let back = try file.doubles("layer.weight")
        // Relative error of one rounding: 2^-24 (F32), 2^-11 (F16), 2^-8 (BF16).
        let tolerance: Double = switch dtype { case .f32: 1e-7; case .f16: 1e-3; case .bf16: 4e-3 }
        for (x, y) in zip(Self.values, back) { #expect(abs(x - y) <= tolerance * abs(x)) }
        #expect(try file.doubles("bias") == [1, 2, 3])
        #expect(data.count == w.byteSize)
    }

    @Test func headerIsPaddedToEightBytesWithSpaces() throws {
        for name in ["a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg", "abcdefgh"] {
            var w = SafeTensorsWriter()
            try w.add(name, shape: [1], values: [1], dtype: .f32)
            let file = try SafeTensorsFile(data: w.serialized())
            #expect(file.headerLength % 8 == 0)
            let header = w.serialized()[8..<(8 + file.headerLength)]
            let text = String(decoding: header, as: UTF8.self)
            #expect(text.hasPrefix("{"))
            #expect(text.reversed().drop(while: { $0 == " " }).first == "}")
        }
    }

    @Test func outputDoesNotDependOnInsertionOrder() throws {
        var w1 = SafeTensorsWriter()
        try w1.add("b", shape: [1], values: [2], dtype: .f16)
        try w1.add("a", shape: [2], values: [1, 1], dtype: .f32)
        var w2 = SafeTensorsWriter()
        try w2.add("a", shape: [2], values: [1, 1], dtype: .f32)
        try w2.add("b", shape: [1], values: [2], dtype: .f16)
        #expect(w1.serialized() == w2.serialized())
        // Tensors are laid out in name order.
        let file = try SafeTensorsFile(data: w1.serialized())
        #expect(file.tensors.map(\.name) == ["a", "b"])
        #expect(file.tensor(named: "a")?.dataOffsets == 0..<8)
    }

    @Test func predictsTheSizeWithoutValues() throws {
        var w = SafeTensorsWriter(metadata: ["k": "v"])
        try w.add("x", matrix: Matrix(zeros: 4, 5), dtype: .bf16)
        try w.add("y", matrix: Matrix(zeros: 3, 2), dtype: .f32)
        let predicted = SafeTensorsWriter.predictedByteSize(
            of: [.init(name: "y", dtype: .f32, shape: [3, 2]), .init(name: "x", dtype: .bf16, shape: [4, 5])],
            metadata: ["k": "v"])
        #expect(predicted == w.serialized().count)
    }

    @Test func refusesValuesTheDTypeCannotHold() throws {
        var w = SafeTensorsWriter()
        let nan = try #require(throws: SafeTensorsError.self) {
            try w.add("n", shape: [2], values: [1, .nan], dtype: .f32)
        }
        #expect(nan.code == .valueNotRepresentable && nan.message.contains("'n'"))
        let big = try #require(throws: SafeTensorsError.self) {
            try w.add("h", shape: [1], values: [70_000], dtype: .f16)  // F16 max is 65504
        }
        #expect(big.code == .valueNotRepresentable)
        let bf = try #require(throws: SafeTensorsError.self) {
            try w.add("b", shape: [1], values: [1e39], dtype: .bf16)
        }
        #expect(bf.code == .valueNotRepresentable)
        // Checked a block of values at a time: the element named is the first bad one, past the first block.
        for dtype in DType.allCases {
            var values = [Double](repeating: 0.5, count: 10_000)
            values[9_001] = .infinity
            values[9_500] = .nan
            let late = try #require(throws: SafeTensorsError.self) {
                try w.add("late", shape: [values.count], values: values, dtype: dtype)
            }
            #expect(late.message.contains("element 9001 is inf"), "\(dtype): \(late.message)")
        }
        #expect(w.tensorNames.isEmpty)
    }

    @Test func encodesLargeTensorsValueByValue() throws {
        // More values than one encoding block, each F16 value the scalar rounding of its double.
        var generator = SeededGenerator(seed: 5)
        let values = (0..<20_011).map { _ in Double.random(in: -3...3, using: &generator) * 0x1p-10 }
        var w = SafeTensorsWriter()
        try w.add("x", shape: [values.count], values: values, dtype: .f16)
        let data = w.serialized()
        let headerLength = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let body = [UInt8](data.dropFirst(8 + headerLength))
        #expect(body.count == 2 * values.count)
        let mismatched = values.indices.filter { i in
            UInt16(body[2 * i]) | UInt16(body[2 * i + 1]) << 8 != HalfPrecision.f16Bits(from: values[i])
        }
        #expect(mismatched.count == 0, "first: \(mismatched.prefix(3))")
    }

    @Test func refusesInconsistentTensors() throws {
        var w = SafeTensorsWriter()
        try w.add("a", shape: [1], values: [1], dtype: .f32)
        #expect(throws: SafeTensorsError.self) { try w.add("a", shape: [1], values: [1], dtype: .f32) }
        let count = try #require(throws: SafeTensorsError.self) {
            try w.add("c", shape: [2, 2], values: [1, 2, 3], dtype: .f32)
        }
        #expect(count.code == .invalidTensor)
        let reserved = try #require(throws: SafeTensorsError.self) {
            try w.add("__metadata__", shape: [1], values: [1], dtype: .f32)
        }
        #expect(reserved.code == .invalidTensor)
    }

    @Test func writesAFileAtomically() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var w = SafeTensorsWriter()
        try w.add("m", matrix: Matrix(rows: 2, cols: 2, elements: [1, 2, 3, 4]), dtype: .f32)
        let url = dir.appendingPathComponent("out.safetensors")
        try w.write(to: url)
        try w.write(to: url)  // replacing an existing file is fine
        #expect(try SafeTensorsFile(contentsOf: url).matrix("m") == Matrix(rows: 2, cols: 2, elements: [1, 2, 3, 4]))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["out.safetensors"])
    }

    @Test func bf16RoundsToNearestEven() {
        // 1 + 2^-8 lies exactly between two BF16 values (1 and 1 + 2^-7): ties go to the even one (1).
        #expect(HalfPrecision.bf16Bits(from: 1 + 0x1p-8) == 0x3F80)
        // Slightly above the tie rounds up.
        #expect(HalfPrecision.bf16Bits(from: 1 + 0x1p-8 + 0x1p-20) == 0x3F81)
        #expect(HalfPrecision.float(fromBF16: 0x3F81) == 1 + 0x1p-7)
    }
}
