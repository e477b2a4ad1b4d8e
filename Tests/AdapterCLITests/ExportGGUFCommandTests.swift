import AdapterCore
import AdapterProtocol
import Crypto
import Foundation
import Testing
@testable import AdapterCLI

private let peftFixtures = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("AdapterCoreTests/Fixtures/peft")

/// `adapterctl export --format gguf`: argument checks before the daemon is asked, and the conversion
/// of the files the daemon sends.
@Suite struct ExportGGUFCommandTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("export-gguf-\(UUID().uuidString)")

    /// An export result carrying a fixture's files, as the daemon would send them.
    func result(_ fixture: String) throws -> ExportResult {
        let dir = peftFixtures.appendingPathComponent(fixture)
        let weights = try Data(contentsOf: dir.appendingPathComponent("adapter_model.safetensors"))
        let config = try String(contentsOf: dir.appendingPathComponent("adapter_config.json"), encoding: .utf8)
        let sha = SHA256.hash(data: weights).map { String(format: "%02x", $0) }.joined()
        return ExportResult(cluster: 4, generation: 2, kind: "merged", tasks: ["a"], sha256: sha, scale: 1,
                            config: config, safetensors: weights.base64EncodedString())
    }

    @Test func badOptionsAreUsageErrorsBeforeConnecting() async throws {
        let file = root.appendingPathComponent("a.gguf").path
        for extra in [["--format", "gguf", "--dtype", "f64"], ["--format", "gguf", "--arch", "bert"],
                      ["--format", "gguf", "--base", root.appendingPathComponent("missing").path],
                      ["--dtype", "f16"], ["--format", "onnx"]] {
            let status = await AdapterCtl.run(arguments: ["export", "3", file, "--socket", "/nonexistent"] + extra)
            #expect(status == ExitStatus.usage.rawValue, "\(extra)")
        }
    }

    @Test func llamaFixtureIsWrittenWithBaseHeadCountsAndRefusedWithout() throws {
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let base = root.appendingPathComponent("config.json")
        try Data(#"{"architectures":["LlamaForCausalLM"],"num_attention_heads":4,"num_key_value_heads":2}"#.utf8).write(to: base)
        let file = root.appendingPathComponent("a.gguf").path

        let withoutBase = try ExportCommand.parse(["3", file, "--format", "gguf"]).ggufRequest()
        #expect(throws: CLIError.self) { try ExportCommand.writeGGUF(result("llama_gqa_f16"), to: file, request: withoutBase) }
        #expect(!FileManager.default.fileExists(atPath: file))

        let request = try ExportCommand.parse(["3", file, "--format", "gguf", "--base", base.path, "--dtype", "f32"]).ggufRequest()
        #expect(request.baseConfig?.headCount == 4 && request.dtype == .f32)
        try ExportCommand.writeGGUF(result("llama_gqa_f16"), to: file, request: request)
        let bytes = try #require(FileManager.default.contents(atPath: file))
        #expect(Array(bytes.prefix(8)) == [0x47, 0x47, 0x55, 0x46, 3, 0, 0, 0])
        #expect(bytes.range(of: Data("blk.0.attn_q.weight.lora_a".utf8)) != nil)
        #expect(throws: CLIError.self) { try ExportCommand.checkNewFile(file) }
    }

    @Test func bertFixtureIsRefusedNamingItsArchitecture() throws {
        let file = root.appendingPathComponent("b.gguf").path
        let request = try ExportCommand.parse(["3", file, "--format", "gguf", "--arch", "qwen2"]).ggufRequest()
        #expect {
            try ExportCommand.writeGGUF(result("bert_f32"), to: file, request: request)
        } throws: { error in
            guard let e = error as? CLIError else { return false }
            return e.code == .declined && e.message.contains("bert")
        }
        #expect(!FileManager.default.fileExists(atPath: file))
    }

    @Test func architectureComesFromArchThenBaseThenModelName() throws {
        let none = ExportCommand.GGUFRequest()
        #expect(try ExportCommand.architecture(none, baseModelName: "Qwen/Qwen2.5-0.5B") == .qwen2)
        #expect(throws: CLIError.self) { try ExportCommand.architecture(none, baseModelName: "sentence-transformers/all-MiniLM-L6-v2") }
        #expect(throws: CLIError.self) { try ExportCommand.architecture(none, baseModelName: nil) }
        let bertBase = ExportCommand.GGUFRequest(baseConfig: .init(architecture: nil, architectureName: "BertModel", headCount: 12, keyValueHeadCount: 12))
        #expect(throws: CLIError.self) { try ExportCommand.architecture(bertBase, baseModelName: "x/llama") }
        let chosen = ExportCommand.GGUFRequest(architecture: .gemma2, baseConfig: bertBase.baseConfig)
        #expect(try ExportCommand.architecture(chosen, baseModelName: "x/llama") == .gemma2)
    }
}
