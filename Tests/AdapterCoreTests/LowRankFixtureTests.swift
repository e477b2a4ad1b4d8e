import Foundation
import Testing
@testable import AdapterCore

/// Acceptance: the factored singular values of every module of every real PEFT fixture match numpy's
/// dense SVD of the same ΔW (tools/fixtures/make_fixtures.py → Fixtures/peft/expected.json) to 1e-4.
@Suite struct LowRankFixtureTests {
    static var fixturesURL: URL? { Bundle.module.url(forResource: "Fixtures", withExtension: nil) }

    static func json(_ relativePath: String) throws -> [String: Any] {
        let url = try #require(fixturesURL).appendingPathComponent(relativePath)
        return try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    static func loadFixture(_ name: String) throws -> LoRAAdapter {
        try PEFTAdapterLoader.load(directory: try #require(fixturesURL).appendingPathComponent("peft/\(name)"))
    }

    /// The update of a module path; a fused module (c_attn, qkv_proj) is rebuilt from its `#q/#k/#v` parts.
    static func update(_ adapter: LoRAAdapter, _ path: String) throws -> LowRankUpdate {
        if let module = adapter.modules.first(where: { $0.name == path }) { return module.update }
        let parts = adapter.modules.filter { $0.name.hasPrefix(path + "#") }
        let first = try #require(parts.first, "module \(path) not loaded")
        var rows: [Double] = []
        for part in parts {
            #expect(part.a == first.a)
            rows += part.b.elements
        }
        return try LowRankUpdate(
            b: Matrix(rows: rows.count / first.rank, cols: first.rank, elements: rows), a: first.a, scale: first.scale)
    }

    static let fixtureNames = [
        "llama_gqa_f32", "llama_gqa_f16", "llama_gqa_bf16", "llama_rslora_rankpattern", "bert_f32", "gpt2_fused",
        "phi3_fused", "llama_gqa_task_b", "llama_gqa_task_c",
    ]

    @Test(arguments: fixtureNames)
    func singularValuesMatchNumpy(fixture: String) throws {
        let expected = try #require(try Self.json("peft/expected.json")["fixtures"] as? [String: Any])
        let modules = try #require((expected[fixture] as? [String: Any])?["modules"] as? [String: [String: Any]])
        let adapter = try Self.loadFixture(fixture)
        #expect(!modules.isEmpty)
        for (path, entry) in modules {
            let numpy = try #require(entry["singular_values"] as? [Double])
            let u = try Self.update(adapter, path)
            let ours = try LowRank.singularValues(of: u)
            let n = min(u.rank, u.outFeatures, u.inFeatures)
            #expect(ours.count == n, "\(fixture) \(path)")
            for i in 0..<n {
                #expect(abs(ours[i] - numpy[i]) <= 1e-4 * numpy[i], "\(fixture) \(path) σ\(i + 1): \(ours[i]) vs \(numpy[i])")
            }
            // numpy's remaining values are rounding noise around zero.
            for s in numpy.dropFirst(n) { #expect(s <= 1e-10 * numpy[0], "\(fixture) \(path)") }
        }
    }
}
