import Foundation
import Testing

@testable import AdapterCore

/// Loads every real PEFT fixture (made by tools/fixtures with peft 0.21 and safetensors) and checks
/// it against expected.json: module names, layers, projections, shapes, ranks, scales and ‖ΔW‖_F.
@Suite("PEFT fixtures from the real peft library")
struct PEFTFixtureTests {
    static let peftDirectory: URL? = Bundle.module.url(forResource: "Fixtures", withExtension: nil)?
        .appendingPathComponent("peft")

    struct ExpectedModule {
        let layer: Int?
        let projection: String
        let rank: Int
        let inFeatures: Int
        let outFeatures: Int
        let scale: Double
        let frobenius: Double
    }

    struct ExpectedFixture {
        let arch: String
        let baseModel: String?
        let dtype: String
        let fanInFanOut: Bool
        let numLayers: Int
        let modules: [String: ExpectedModule]
    }

    static func expected() throws -> [String: ExpectedFixture] {
        let dir = try #require(peftDirectory)
        let json = try StrictJSON.parse(try Data(contentsOf: dir.appendingPathComponent("expected.json")))
        let fixtures = try #require(json["fixtures"]?.members)
        var out: [String: ExpectedFixture] = [:]
        for f in fixtures {
            var modules: [String: ExpectedModule] = [:]
            for m in try #require(f.value["modules"]?.members) {
                let v = m.value
                modules[m.key] = ExpectedModule(
                    layer: v["layer"]?.integer, projection: try #require(v["projection"]?.string),
                    rank: try #require(v["rank"]?.integer), inFeatures: try #require(v["in_features"]?.integer),
                    outFeatures: try #require(v["out_features"]?.integer), scale: try #require(v["scale"]?.double),
                    frobenius: try #require(v["frobenius"]?.double))
            }
            out[f.key] = ExpectedFixture(
                arch: try #require(f.value["arch"]?.string), baseModel: f.value["base_model_name_or_path"]?.string,
                dtype: try #require(f.value["dtype"]?.string),
                fanInFanOut: f.value["fan_in_fan_out"] == .bool(true),
                numLayers: try #require(f.value["num_layers"]?.integer), modules: modules)
        }
        return out
    }

    static func fixtureNames() -> [String] {
        guard let dir = peftDirectory,
            let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path)
        else { return [] }
        return names.filter { !$0.hasSuffix(".json") }.sorted()
    }

    @Test func everyFixtureDirectoryIsDescribed() throws {
        let names = Self.fixtureNames()
        #expect(names.count >= 5)
        #expect(Set(names) == Set(try Self.expected().keys))
    }

    @Test(arguments: fixtureNames())
    func loadsAndMatchesExpected(name: String) throws {
        let expected = try #require(try Self.expected()[name])
        let dir = try #require(Self.peftDirectory).appendingPathComponent(name)
        let adapter = try PEFTAdapterLoader.load(directory: dir)
        #expect(adapter.architecture.rawValue == expected.arch)
        #expect(adapter.config.baseModelNameOrPath == expected.baseModel)
        #expect(adapter.storageDType.rawValue == expected.dtype)
        #expect(adapter.config.fanInFanOut == expected.fanInFanOut)
        #expect(adapter.layerCount == expected.numLayers)
        // expected.json lists a fused module both whole ("qkv") and as its parts; adapterd keeps the parts.
        let expectedModules = expected.modules.filter { $0.value.projection != "qkv" }
        #expect(Set(adapter.modules.map(\.name)) == Set(expectedModules.keys))
        for module in adapter.modules {
            let e = try #require(expectedModules[module.name], "\(module.name) not in expected.json")
            #expect(module.layer == e.layer, "\(module.name)")
            #expect((module.projection?.rawValue ?? "other") == e.projection, "\(module.name)")
            #expect(module.rank == e.rank && module.inFeatures == e.inFeatures && module.outFeatures == e.outFeatures,
                    "\(module.name)")
            #expect(abs(module.scale - e.scale) <= 1e-12 * abs(e.scale), "\(module.name): scale \(module.scale)")
            let frobenius = module.b.multiplied(by: module.a, alpha: module.scale).frobeniusNormSquared.squareRoot()
            #expect(abs(frobenius - e.frobenius) <= 1e-9 * e.frobenius,
                    "\(module.name): ‖ΔW‖_F \(frobenius) vs \(e.frobenius)")
        }
    }

    @Test(arguments: fixtureNames())
    func writerRoundTripKeepsEveryUpdate(name: String) throws {
        let dir = try #require(Self.peftDirectory).appendingPathComponent(name)
        let adapter = try PEFTAdapterLoader.load(directory: dir)
        let files = try PEFTAdapterWriter.serialize(adapter, dtype: adapter.storageDType)
        #expect(try PEFTAdapterWriter.byteSize(adapter, dtype: adapter.storageDType) == files.config.count + files.weights.count)
        let reloaded = try PEFTAdapterLoader.load(configJSON: files.config, safetensors: files.weights)
        #expect(reloaded.modules.map(\.name) == adapter.modules.map(\.name))
        #expect(reloaded.architecture == adapter.architecture)
        for (m, n) in zip(adapter.modules, reloaded.modules) {
            // Same dtype and, for loaded modules, the same stored values: ΔW agrees to float64 rounding.
            let d1 = m.b.multiplied(by: m.a, alpha: m.scale)
            let d2 = n.b.multiplied(by: n.a, alpha: n.scale)
            let diff = zip(d1.elements, d2.elements).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
            #expect(diff <= 1e-12 * max(d1.frobeniusNormSquared.squareRoot(), 1e-300), "\(m.name)")
        }
        // Set ADAPTERD_WRITER_OUTPUT to a directory to keep the written adapters (for checking them in PEFT).
        if let keep = ProcessInfo.processInfo.environment["ADAPTERD_WRITER_OUTPUT"] {
            let out = URL(fileURLWithPath: keep).appendingPathComponent(name)
            try? FileManager.default.removeItem(at: out)
            try PEFTAdapterWriter.write(adapter, to: out, dtype: adapter.storageDType)
        }
    }

    /// Fused parts whose scales diverged (as after a merge) are written block-diagonally and still
    /// reload to the same per-part ΔW.
    @Test(arguments: ["gpt2_fused", "phi3_fused"])
    func divergedFusedPartsRoundTrip(name: String) throws {
        let dir = try #require(Self.peftDirectory).appendingPathComponent(name)
        let adapter = try PEFTAdapterLoader.load(directory: dir)
        let modules = adapter.modules.map { m in
            m.name.hasSuffix("#k")
                ? LoRAModule(name: m.name, layer: m.layer, projection: m.projection, a: m.a, b: m.b, scale: 2 * m.scale)
                : m
        }
        let diverged = LoRAAdapter(config: adapter.config, modules: modules, architecture: adapter.architecture,
                                   storageDType: .f32, tensorBytes: 0)
        let files = try PEFTAdapterWriter.serialize(diverged, dtype: .f32)
        let reloaded = try PEFTAdapterLoader.load(configJSON: files.config, safetensors: files.weights)
        #expect(reloaded.modules.map(\.name) == diverged.modules.map(\.name))
        for (m, n) in zip(diverged.modules, reloaded.modules) {
            if m.name.contains("#") { #expect(n.rank == 3 * m.rank, "\(n.name)") }
            let d1 = m.b.multiplied(by: m.a, alpha: m.scale)
            let d2 = n.b.multiplied(by: n.a, alpha: n.scale)
            let diff = zip(d1.elements, d2.elements).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
            #expect(diff <= 1e-6 * d1.frobeniusNormSquared.squareRoot(), "\(m.name)")
        }
        if let keep = ProcessInfo.processInfo.environment["ADAPTERD_WRITER_OUTPUT"] {
            let out = URL(fileURLWithPath: keep).appendingPathComponent(name + "_diverged")
            try? FileManager.default.removeItem(at: out)
            try PEFTAdapterWriter.write(diverged, to: out, dtype: .f32)
        }
    }
}
