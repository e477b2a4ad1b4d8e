import Foundation
import Testing

@testable import AdapterCore

@Suite("GGUFWriter")
struct GGUFWriterTests {
    @Test func headerBytesAndLayoutMatchGGUFv3() throws {
        var writer = GGUFWriter()
        try writer.add("general.type", .string("adapter"))
        try writer.add("adapter.lora.alpha", .float32(8))
        try writer.addTensor("t.a", shape: [2, 3], values: [1, 2, 3, 4, 5, 6], type: .f32)
        try writer.addTensor("t.b", shape: [3], values: [0.5, -1, 2], type: .f16)
        let data = writer.serialized()
        let bytes = Array(data)
        #expect(Array(bytes[0..<4]) == [0x47, 0x47, 0x55, 0x46])  // "GGUF"
        #expect(Array(bytes[4..<8]) == [3, 0, 0, 0])  // version 3, little-endian
        #expect(Array(bytes[8..<16]) == [2, 0, 0, 0, 0, 0, 0, 0])  // tensor count
        #expect(Array(bytes[16..<24]) == [2, 0, 0, 0, 0, 0, 0, 0])  // key/value count
        // First key: u64 length 12, "general.type", value type 8 (string).
        #expect(Array(bytes[24..<32]) == [12, 0, 0, 0, 0, 0, 0, 0])
        #expect(String(decoding: bytes[32..<44], as: UTF8.self) == "general.type")
        #expect(Array(bytes[44..<48]) == [8, 0, 0, 0])

        let read = try GGUFTestReader(data)
        #expect(read.version == 3)
        #expect(read.keyOrder == ["general.type", "adapter.lora.alpha"])
        #expect(read.keyValues["general.type"] as? String == "adapter")
        #expect(read.keyTypes["adapter.lora.alpha"] == 6)
        #expect(read.keyValues["adapter.lora.alpha"] as? Float == 8)
        #expect(read.dataStart % 32 == 0)
        let a = try #require(read.tensor("t.a"))
        #expect(a.dims == [3, 2])  // GGML order: the row-major shape reversed
        #expect(a.type == 0 && a.offset == 0)
        #expect(a.values == [1, 2, 3, 4, 5, 6])
        let b = try #require(read.tensor("t.b"))
        #expect(b.dims == [3] && b.type == 1)
        #expect(b.offset == 32)  // 24 bytes of t.a padded to the 32-byte alignment
        #expect(b.values == [0.5, -1, 2])
        #expect(data.count == read.dataStart + 32 + 32)  // the last tensor is padded too
    }

    @Test func halfPrecisionTypesRoundToNearest() throws {
        var writer = GGUFWriter()
        let values = [0.1, 1.0 / 3, -2.7182818, 65504]
        try writer.addTensor("h", shape: [4], values: values, type: .f16)
        try writer.addTensor("b", shape: [4], values: values, type: .bf16)
        let read = try GGUFTestReader(writer.serialized())
        let h = try #require(read.tensor("h"))
        #expect(h.values == values.map { Double(Float16($0)) })
        for (got, want) in zip(h.values, values) { #expect(abs(got - want) <= abs(want) * 0x1p-11) }
        let b = try #require(read.tensor("b"))
        #expect(b.type == 30)
        for (got, want) in zip(b.values, values) { #expect(abs(got - want) <= abs(want) * 0x1p-8) }
    }

    @Test func refusesWhatCannotBeWritten() throws {
        var writer = GGUFWriter()
        #expect(throws: GGUFError.self) { try writer.addTensor("big", shape: [1], values: [70000], type: .f16) }
        #expect(throws: GGUFError.self) { try writer.addTensor("nan", shape: [1], values: [.nan], type: .f32) }
        #expect(throws: GGUFError.self) { try writer.addTensor("shape", shape: [2, 2], values: [1, 2, 3], type: .f32) }
        try writer.addTensor("x", shape: [1], values: [1], type: .f32)
        #expect(throws: GGUFError.self) { try writer.addTensor("x", shape: [1], values: [1], type: .f32) }
        try writer.add("k", .bool(true))
        #expect(throws: GGUFError.self) { try writer.add("k", .bool(false)) }
    }
}
