@testable import AdapterCore
import Foundation
import Glibc
import Testing

/// A FIFO with a writer thread that opens it and closes it again without writing. A reader that opens
/// the FIFO gets end-of-file instead of waiting forever (so code that wrongly opens it fails a test
/// instead of hanging it); `finish()` releases the writer when nobody did.
final class UnblockableFIFO: Sendable {
    let path: String
    private let writerDone = DispatchSemaphore(value: 0)

    init(path: String) throws {
        self.path = path
        guard mkfifo(path, 0o600) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        let done = writerDone
        Thread {
            let fd = open(path, O_WRONLY | O_CLOEXEC)  // waits for a reader
            if fd >= 0 { close(fd) }
            done.signal()
        }.start()
    }

    /// Opens the FIFO for reading (without waiting) so a writer still waiting for a reader goes on, and
    /// waits for it to finish.
    func finish() {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        writerDone.wait()
        if fd >= 0 { close(fd) }
    }
}

/// A scratch directory removed at the end of a test.
struct ScratchDirectory {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("regular-file-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    func remove() { try? FileManager.default.removeItem(at: url) }
}

@Suite("RegularFile")
struct RegularFileTests {
    static func error(_ body: () throws(RegularFileError) -> Data) -> RegularFileError? {
        do {
            _ = try body()
            return nil
        } catch {
            return error
        }
    }

    @Test func readsAndMapsRegularFilesWithinTheLimit() throws {
        let dir = try ScratchDirectory()
        defer { dir.remove() }
        let file = URL(fileURLWithPath: dir.path("f"))
        let bytes = Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try bytes.write(to: file)
        #expect(try RegularFile.read(file, maximumBytes: bytes.count) == bytes)
        #expect(try RegularFile.map(file) == bytes)
        #expect(try RegularFile.map(file, maximumBytes: bytes.count) == bytes)
        let tooLarge = try #require(Self.error { () throws(RegularFileError) in try RegularFile.read(file, maximumBytes: 99_999) })
        #expect(tooLarge.code == .tooLarge && tooLarge.message == "'\(file.path)' is 100000 bytes; the limit is 99999 bytes")
        #expect(Self.error { () throws(RegularFileError) in try RegularFile.map(file, maximumBytes: 10) }?.code == .tooLarge)

        let empty = URL(fileURLWithPath: dir.path("empty"))
        try Data().write(to: empty)
        #expect(try RegularFile.read(empty, maximumBytes: 0).isEmpty)
        #expect(try RegularFile.map(empty).isEmpty)
        let missing = try #require(Self.error { () throws(RegularFileError) in
            try RegularFile.read(URL(fileURLWithPath: dir.path("nothing")), maximumBytes: 10)
        })
        #expect(missing.code == .missing && missing.message.contains("does not exist"))
    }

    /// readToEnd reads to the end whatever size it was told: a file longer than expected grows the
    /// buffer, a shorter one ends early, and the bound holds wherever the end falls.
    @Test func readToEndReadsTheWholeFileWhateverSizeItWasTold() throws {
        let dir = try ScratchDirectory()
        defer { dir.remove() }
        let file = dir.path("f")
        let bytes = Data((0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) })
        try bytes.write(to: URL(fileURLWithPath: file))
        func read(expected: Int, maximum: Int = .max - 1) throws(RegularFile.ReadToEndFailure) -> Data {
            let fd = open(file, O_RDONLY | O_CLOEXEC)
            defer { close(fd) }
            return try RegularFile.readToEnd(fd, expectedBytes: expected, maximumBytes: maximum)
        }
        for expected in [0, 1, 65_535, 199_999, 200_000, 200_001, 1_000_000] {
            #expect(try read(expected: expected) == bytes, "told \(expected) bytes")
        }
        for (expected, maximum) in [(0, 199_999), (199_999, 199_999), (10, 150_000)] {
            do {
                _ = try read(expected: expected, maximum: maximum)
                Issue.record("read more than \(maximum) bytes")
            } catch {
                guard case .tooLarge = error else { Issue.record("\(error)"); continue }
            }
        }
        #expect(try read(expected: 10, maximum: 200_000) == bytes)
        let empty = dir.path("empty")
        try Data().write(to: URL(fileURLWithPath: empty))
        let fd = open(empty, O_RDONLY | O_CLOEXEC)
        defer { close(fd) }
        #expect(try RegularFile.readToEnd(fd, expectedBytes: 0).isEmpty)
    }

    @Test func refusesAFIFOADeviceAndADirectoryNamingWhatTheyAre() throws {
        let dir = try ScratchDirectory()
        defer { dir.remove() }
        let fifo = try UnblockableFIFO(path: dir.path("fifo"))
        defer { fifo.finish() }
        try FileManager.default.createSymbolicLink(atPath: dir.path("zero"), withDestinationPath: "/dev/zero")
        let cases: [(String, String)] = [
            (fifo.path, "a FIFO (named pipe)"), ("/dev/zero", "a character device"),
            (dir.path("zero"), "a character device"), (dir.url.path, "a directory"),
        ]
        for (path, kind) in cases {
            let url = URL(fileURLWithPath: path)
            for error in [Self.error { () throws(RegularFileError) in try RegularFile.read(url, maximumBytes: 1 << 20) },
                          Self.error { () throws(RegularFileError) in try RegularFile.map(url) }] {
                #expect(error?.code == .notRegularFile)
                #expect(error?.message == "'\(path)' is \(kind), not a regular file")
            }
        }
    }

    @Test func adapterFilesThatAreNotRegularFilesAreRefusedByName() throws {
        let dir = try ScratchDirectory()
        defer { dir.remove() }
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/peft/llama_gqa_f16")
        func adapterDirectory(_ name: String, config: (String) throws -> Void, weights: (String) throws -> Void) throws -> URL {
            let d = dir.url.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            try config(d.appendingPathComponent(PEFTAdapterLoader.configFileName).path)
            try weights(d.appendingPathComponent(PEFTAdapterLoader.weightsFileName).path)
            return d
        }
        let copyConfig: (String) throws -> Void = {
            try FileManager.default.copyItem(atPath: fixture.appendingPathComponent(PEFTAdapterLoader.configFileName).path, toPath: $0)
        }
        let copyWeights: (String) throws -> Void = {
            try FileManager.default.copyItem(atPath: fixture.appendingPathComponent(PEFTAdapterLoader.weightsFileName).path, toPath: $0)
        }
        var fifos: [UnblockableFIFO] = []
        defer { fifos.forEach { $0.finish() } }
        let fifoAt: (String) throws -> Void = { fifos.append(try UnblockableFIFO(path: $0)) }
        let zeroAt: (String) throws -> Void = { try FileManager.default.createSymbolicLink(atPath: $0, withDestinationPath: "/dev/zero") }
        let directoryAt: (String) throws -> Void = { try FileManager.default.createDirectory(atPath: $0, withIntermediateDirectories: false) }
        let cases: [(URL, String, String)] = [
            (try adapterDirectory("config-fifo", config: fifoAt, weights: copyWeights), PEFTAdapterLoader.configFileName, "a FIFO"),
            (try adapterDirectory("config-dir", config: directoryAt, weights: copyWeights), PEFTAdapterLoader.configFileName, "a directory"),
            (try adapterDirectory("weights-fifo", config: copyConfig, weights: fifoAt), PEFTAdapterLoader.weightsFileName, "a FIFO"),
            (try adapterDirectory("weights-zero", config: copyConfig, weights: zeroAt), PEFTAdapterLoader.weightsFileName, "a character device"),
            (try adapterDirectory("weights-dir", config: copyConfig, weights: directoryAt), PEFTAdapterLoader.weightsFileName, "a directory"),
        ]
        for (directory, file, kind) in cases {
            let error = try #require(throws: PEFTError.self) { _ = try PEFTAdapterLoader.load(directory: directory) }
            #expect(error.code == .unreadableFile, "\(directory.lastPathComponent): \(error)")
            #expect(error.message.contains("\(directory.lastPathComponent)/\(file)' is \(kind)"), "\(error.message)")
        }
        // The same files as a safetensors file, an examples file, a detector model, a base-model config.
        let weightsFIFO = cases[2].0.appendingPathComponent(PEFTAdapterLoader.weightsFileName)
        let safetensors = try #require(throws: SafeTensorsError.self) { _ = try SafeTensorsFile(contentsOf: weightsFIFO) }
        #expect(safetensors.code == .unreadableFile && safetensors.message.contains("is a FIFO"))
        let examplesFIFO = try UnblockableFIFO(path: dir.path("examples.jsonl"))
        fifos.append(examplesFIFO)
        let examples = try #require(throws: ExamplesFileError.self) {
            _ = try ExamplesFile.load(contentsOf: URL(fileURLWithPath: examplesFIFO.path))
        }
        #expect(examples.code == .unreadableFile && examples.message.contains("is a FIFO"))
        let model = try #require(throws: DetectorError.self) { _ = try DetectorModel.load(from: URL(fileURLWithPath: "/dev/zero")) }
        #expect(model.message.contains("'/dev/zero' is a character device"))
        let base = try adapterDirectory("base-model", config: { _ in }, weights: { _ in })
        fifos.append(try UnblockableFIFO(path: base.appendingPathComponent("config.json").path))
        try Data().write(to: base.appendingPathComponent("model.safetensors"))
        let table = try #require(throws: TokenEmbeddingError.self) { _ = try TokenEmbeddingTable.load(directory: base) }
        #expect(table.code == .unreadableFile && table.message.contains("config.json' is a FIFO"))
    }
}
