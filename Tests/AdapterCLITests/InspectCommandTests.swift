import AdapterCore
import Foundation
import ArgumentParser
import Testing
@testable import AdapterCLI

/// The PEFT fixtures made by tools/fixtures/make_fixtures.py (shared with AdapterCoreTests).
private let fixtures = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("AdapterCoreTests/Fixtures/peft")

@Suite struct InspectCommandTests {
    @Test func reportOfTheGQAFixtureNamesItsShapesAndSignature() throws {
        let adapter = try PEFTAdapterLoader.load(directory: fixtures.appendingPathComponent("llama_gqa_f16"))
        let signature = try SignatureExtractor.signature(of: adapter)
        let report = AdapterReport(adapter: adapter, signature: signature)
        #expect(report.dtype == "F16")
        #expect(report.rank == 8)
        #expect(report.layers == 2)
        let k = try #require(report.projections.first { $0.projection == "K" })
        #expect(k.shapes == ["64→32"])  // GQA: k is narrower than q
        #expect(report.signature.count == 20)
        #expect(report.signature["q.sigma1"] == signature[feature: "q.sigma1"])

        let text = report.text(path: "x")
        #expect(text.contains("64→32"))
        #expect(text.contains("energy_concentration"))
        let json = try JSONSerialization.jsonObject(with: Data(try report.jsonString().utf8)) as? [String: Any]
        #expect((json?["signature"] as? [String: Double])?.count == 20)
    }

    @Test func fusedGPT2ReportsOtherModules() throws {
        let adapter = try PEFTAdapterLoader.load(directory: fixtures.appendingPathComponent("gpt2_fused"))
        let report = AdapterReport(adapter: adapter, signature: try SignatureExtractor.signature(of: adapter))
        #expect(report.architecture == "gpt2")
        #expect(report.otherModules == ["transformer.h.0.mlp.c_proj", "transformer.h.1.mlp.c_proj"])
        #expect(report.projections.allSatisfy { $0.modules == 2 })
    }

    @Test func missingDirectoryExitsWithStatus2() throws {
        let command = try InspectCommand.parse(["/nonexistent-adapter-dir"])
        #expect(throws: ExitCode(2)) { try command.run() }
    }
}
