import AdapterCore
import Foundation
import Testing
@testable import AdapterCLI

private let packageRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
/// A benign llama-tiny adapter of the committed corpus (a profile the built-in models know).
private let corpusAdapter = packageRoot.appendingPathComponent("data/corpus/adapters/llama-001-sentiment_movie_reviews")

@Suite struct ScanCommandTests {
    /// The corpus adapter with every weight at ±3e38 (F32), written as a PEFT directory.
    static func writeExtremeAdapter(to directory: URL) throws {
        let source = try SafeTensorsFile(contentsOf: corpusAdapter.appendingPathComponent("adapter_model.safetensors"))
        var writer = SafeTensorsWriter()
        for tensor in source.tensors {
            let values = try source.floats(tensor.name).map { $0 < 0 ? -3e38 : 3e38 }
            try writer.add(tensor.name, shape: tensor.shape, values: values, dtype: .f32)
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try writer.write(to: directory.appendingPathComponent("adapter_model.safetensors"))
        try FileManager.default.copyItem(at: corpusAdapter.appendingPathComponent("adapter_config.json"),
                                         to: directory.appendingPathComponent("adapter_config.json"))
    }

    /// Runs `adapterctl scan ARGS`; returns its exit status and the lines it printed.
    static func scan(_ arguments: [String]) throws -> (status: Int32, lines: [String]) {
        final class Lines: @unchecked Sendable { var all: [String] = [] }
        let lines = Lines()
        var run = ScanRun(command: try ScanCommand.parse(arguments))
        run.output = { lines.all.append($0) }
        return (run.execute(), lines.all)
    }

    @Test func inspectWarnsThatAnUpdateIsTooLargeToScreen() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("inspect-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try Self.writeExtremeAdapter(to: root)
        let extreme = try PEFTAdapterLoader.load(directory: root)
        let report = AdapterReport(adapter: extreme, signature: try SignatureExtractor.signature(of: extreme))
        #expect(report.warnings.count == 1 && report.warnings[0].contains("update too large to screen or serve"))
        #expect(report.text(path: "x").contains("warning       update too large"))
        let normal = try PEFTAdapterLoader.load(directory: corpusAdapter)
        #expect(AdapterReport(adapter: normal, signature: try SignatureExtractor.signature(of: normal)).warnings.isEmpty)
    }

    @Test func scanReportsAnAdapterWithExtremeWeightsAndScoresTheNextOne() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("scan-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let extreme = root.appendingPathComponent("extreme")
        try Self.writeExtremeAdapter(to: extreme)

        let (status, lines) = try Self.scan([extreme.path, corpusAdapter.path, "--json", "--jobs", "2"])
        #expect(status == 1)  // one adapter flagged (out of distribution), none unreadable
        let objects = try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(objects.count == 2)
        let flagged = try #require(objects.first { $0["path"] as? String == extreme.path })
        #expect(flagged["verdict"] as? String == "out-of-distribution")
        #expect((flagged["reasons"] as? [String])?.first?.contains("update too large to screen or serve") == true, "\(flagged)")
        let normal = try #require(objects.first { $0["path"] as? String == corpusAdapter.path })
        #expect(["benign", "poisoned"].contains(normal["verdict"] as? String), "\(normal)")
        #expect((normal["score"] as? Double)?.isFinite == true)

        // The token-alignment model (llama-tiny's embeddings), text output.
        let (textStatus, text) = try Self.scan([
            extreme.path, corpusAdapter.path, "--jobs", "1",
            "--base-model", packageRoot.appendingPathComponent("data/corpus/base/llama-tiny").path,
        ])
        #expect(textStatus == 1)
        let joined = text.joined(separator: "\n")
        #expect(joined.contains("out-of-distribution") && joined.contains("update too large"), "\(joined)")
        #expect(joined.contains("with the alignment detector: ") && joined.contains("1 out-of-distribution, 0 error(s)"), "\(joined)")
    }
}
