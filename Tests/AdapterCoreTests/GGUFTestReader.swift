import Foundation

@testable import AdapterCore

/// A minimal GGUF v3 reader for the tests, written from the format description (not from
/// `GGUFWriter`): parses the header, key/value pairs, tensor infos and each tensor's values, and
/// checks the alignment of the data section and of every tensor.
struct GGUFTestReader {
    enum Failure: Error { case malformed(String) }

    struct Tensor {
        let name: String
        /// GGML order: innermost first.
        let dims: [Int]
        let type: UInt32
        let offset: Int
        var values: [Double] = []
    }

    var version: UInt32 = 0
    var keyValues: [String: Any] = [:]
    var keyTypes: [String: UInt32] = [:]
    var keyOrder: [String] = []
    var tensors: [Tensor] = []
    var dataStart = 0

    private let bytes: [UInt8]
    private var at = 0

    init(_ data: Data) throws {
        bytes = Array(data)
        guard bytes.count >= 24, Array(bytes[0..<4]) == Array("GGUF".utf8) else { throw Failure.malformed("magic") }
        at = 4
        version = try u32()
        let tensorCount = try u64()
        let kvCount = try u64()
        for _ in 0..<kvCount {
            let key = try string()
            let type = try u32()
            keyTypes[key] = type
            keyOrder.append(key)
            switch type {
            case 4: keyValues[key] = try u32()
            case 5: keyValues[key] = Int32(bitPattern: try u32())
            case 6: keyValues[key] = Float(bitPattern: try u32())
            case 7: keyValues[key] = try take(1)[0] != 0
            case 8: keyValues[key] = try string()
            case 10: keyValues[key] = try u64()
            case 12: keyValues[key] = Double(bitPattern: UInt64(try u64()))
            default: throw Failure.malformed("value type \(type)")
            }
        }
        for _ in 0..<tensorCount {
            let name = try string()
            let n = Int(try u32())
            var dims: [Int] = []
            for _ in 0..<n { dims.append(try u64()) }
            let type = try u32()
            tensors.append(Tensor(name: name, dims: dims, type: type, offset: try u64()))
        }
        dataStart = (at + 31) / 32 * 32
        guard bytes[at..<dataStart].allSatisfy({ $0 == 0 }) else { throw Failure.malformed("padding") }
        for i in tensors.indices {
            let t = tensors[i]
            guard t.offset % 32 == 0 else { throw Failure.malformed("\(t.name) offset \(t.offset) not aligned") }
            let count = t.dims.reduce(1, *)
            at = dataStart + t.offset
            switch t.type {
            case 0: tensors[i].values = try (0..<count).map { _ in Double(Float(bitPattern: try u32())) }
            case 1: tensors[i].values = try (0..<count).map { _ in Double(Float16(bitPattern: try u16())) }
            case 30: tensors[i].values = try (0..<count).map { _ in Double(Float(bitPattern: UInt32(try u16()) << 16)) }
            default: throw Failure.malformed("tensor type \(t.type)")
            }
        }
    }

    func tensor(_ name: String) -> Tensor? { tensors.first { $0.name == name } }

    private mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard at + n <= bytes.count else { throw Failure.malformed("truncated at \(at)") }
        defer { at += n }
        return bytes[at..<(at + n)]
    }

    private mutating func u16() throws -> UInt16 { try take(2).reversed().reduce(0) { $0 << 8 | UInt16($1) } }
    private mutating func u32() throws -> UInt32 { try take(4).reversed().reduce(0) { $0 << 8 | UInt32($1) } }
    private mutating func u64() throws -> Int { Int(try take(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }) }
    private mutating func string() throws -> String {
        let n = try u64()
        guard let s = String(bytes: try take(n), encoding: .utf8) else { throw Failure.malformed("string") }
        return s
    }
}
