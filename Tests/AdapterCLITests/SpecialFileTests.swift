import AdapterCore
import ArgumentParser
import Foundation
import Glibc
import Testing
@testable import AdapterCLI

/// A FIFO whose writer thread opens it and closes it at once: code that wrongly opens the FIFO reads
/// end-of-file (and fails a test) instead of waiting forever; `finish()` releases the writer otherwise.
private final class UnblockableFIFO: Sendable {
    let path: String
    private let writerDone = DispatchSemaphore(value: 0)

    init(path: String) throws {
        self.path = path
        guard mkfifo(path, 0o600) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        let done = writerDone
        Thread {
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            if fd >= 0 { close(fd) }
            done.signal()
        }.start()
    }

    func finish() {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        writerDone.wait()
        if fd >= 0 { close(fd) }
    }
}

private let packageRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
private let fixture = packageRoot.appendingPathComponent("Tests/AdapterCoreTests/Fixtures/peft/llama_gqa_f16")

/// `install`, `inspect` and `scan` given a FIFO, a device or a directory where a file belongs.
@Suite struct SpecialFileTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("special-files-\(UUID().uuidString)")

    func makeAdapter(_ name: String, config: ((String) throws -> Void)? = nil,
                     weights: ((String) throws -> Void)? = nil) throws -> String {
        let dir = root.appendingPathComponent(name).path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let fm = FileManager.default
        if let config { try config(dir + "/adapter_config.json") } else {
            try fm.copyItem(atPath: fixture.path + "/adapter_config.json", toPath: dir + "/adapter_config.json")
        }
        if let weights { try weights(dir + "/adapter_model.safetensors") } else {
            try fm.copyItem(atPath: fixture.path + "/adapter_model.safetensors", toPath: dir + "/adapter_model.safetensors")
        }
        return dir
    }

    @Test func installNamesTheFileAndWhatItIs() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        var fifos: [UnblockableFIFO] = []
        defer { fifos.forEach { $0.finish() } }
        let examples = root.appendingPathComponent("examples.jsonl").path
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try #"{"text":"a","label":"b"}"#.write(toFile: examples, atomically: true, encoding: .utf8)
        let fifoConfig = try makeAdapter("fifo-config", config: { fifos.append(try UnblockableFIFO(path: $0)) })
        let zeroWeights = try makeAdapter("zero-weights", weights: {
            try FileManager.default.createSymbolicLink(atPath: $0, withDestinationPath: "/dev/zero")
        })
        let directoryWeights = try makeAdapter("directory-weights", weights: {
            try FileManager.default.createDirectory(atPath: $0, withIntermediateDirectories: false)
        })
        let normal = try makeAdapter("normal")
        let examplesDirectory = root.appendingPathComponent("examples-dir").path
        try FileManager.default.createDirectory(atPath: examplesDirectory, withIntermediateDirectories: false)
        let cases: [(String, String, String)] = [
            (fifoConfig, examples, "\(fifoConfig)/adapter_config.json' is a FIFO (named pipe), not a regular file"),
            (zeroWeights, examples, "\(zeroWeights)/adapter_model.safetensors' is a character device, not a regular file"),
            (directoryWeights, examples, "\(directoryWeights)/adapter_model.safetensors' is a directory, not a regular file"),
            (normal, examplesDirectory, "\(examplesDirectory)' is a directory, not a regular file"),
        ]
        for (directory, examplesPath, message) in cases {
            let error = try #require(throws: CLIError.self) {
                _ = try InstallCommand.readParams(directory: directory, task: "t", examples: examplesPath)
            }
            #expect(error.code == .usage)
            #expect(error.message.contains(message), "\(error.message)")
        }
        #expect(try InstallCommand.readParams(directory: normal, task: "t", examples: examples).examples.contains("label"))
    }

    @Test func inspectAndScanReportTheFileAndGoOn() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        var fifos: [UnblockableFIFO] = []
        defer { fifos.forEach { $0.finish() } }
        let fifoWeights = try makeAdapter("fifo-weights", weights: { fifos.append(try UnblockableFIFO(path: $0)) })
        let zeroConfig = try makeAdapter("zero-config", config: {
            try FileManager.default.createSymbolicLink(atPath: $0, withDestinationPath: "/dev/zero")
        })
        _ = try makeAdapter("normal")
        let inspect = try InspectCommand.parse([zeroConfig])
        #expect(throws: ExitCode(2)) { try inspect.run() }

        final class Lines: @unchecked Sendable { var all: [String] = [] }
        let lines = Lines()
        var run = ScanRun(command: try ScanCommand.parse([root.path, "--json", "--jobs", "2"]))
        run.output = { lines.all.append($0) }
        #expect(run.execute() == 2)  // adapters that cannot be read
        let objects = try lines.all.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        let byName = Dictionary(uniqueKeysWithValues: objects.map { (URL(fileURLWithPath: $0["path"] as? String ?? "").lastPathComponent, $0) })
        #expect(byName.count == 3)
        #expect(byName["fifo-weights"]?["verdict"] as? String == "error")
        #expect((byName["fifo-weights"]?["error"] as? String)?.contains("\(fifoWeights)/adapter_model.safetensors' is a FIFO") == true)
        #expect((byName["zero-config"]?["error"] as? String)?.contains("\(zeroConfig)/adapter_config.json' is a character device") == true)
        #expect(byName["normal"]?["verdict"] as? String != "error")  // screened (out of distribution: not a corpus profile)
    }
}
