import Foundation
import Testing
@testable import AdapterCore

/// Golden tests of the merge primitive and methods against numpy (expected_truncated.json) and against
/// the real PEFT `add_weighted_adapter` (expected_peft.json + the merged directories it saved).
@Suite struct MergeGoldenTests {
    static func module(_ adapter: LoRAAdapter, _ path: String) -> LoRAModule? {
        adapter.modules.first { $0.name == path }
    }

    static func relativeDifference(_ x: LowRankUpdate, _ y: LowRankUpdate) throws -> Double {
        try LowRank.distance(x, y) / LowRank.frobeniusNorm(of: y)
    }

    @Test(arguments: ["ab_w0.6_0.4", "ab_w1.0_-0.5", "abc_w0.5_0.3_0.2"])
    func truncatedWeightedSumMatchesNumpy(caseName: String) throws {
        let cases = try #require(try LowRankFixtureTests.json("merge/expected_truncated.json")["cases"] as? [String: Any])
        let golden = try #require(cases[caseName] as? [String: Any])
        let adapters = try #require(golden["adapters"] as? [String]).map(LowRankFixtureTests.loadFixture)
        let weights = try #require(golden["weights"] as? [Double])
        let modules = try #require(golden["modules"] as? [String: [String: Any]])
        #expect(!modules.isEmpty)
        for (path, entry) in modules {
            let updates = try adapters.map { try #require(Self.module($0, path)).update }
            let sumNorm = try #require(entry["sum_frobenius"] as? Double)
            let truncations = try #require(entry["truncated"] as? [[String: Any]])
            for t in truncations {
                let k = try #require(t["k"] as? Int)
                let numpy = try #require(t["singular_values"] as? [Double])
                let result = try LowRank.truncatedWeightedSum(updates, weights: weights, rank: k)
                for (i, s) in numpy.enumerated() {
                    let ours = i < result.singularValues.count ? result.singularValues[i] : 0
                    #expect(abs(ours - s) <= 1e-9 * sumNorm, "\(caseName) \(path) k=\(k) σ\(i + 1)")
                }
                let residual = try #require(t["residual_frobenius"] as? Double)
                #expect(abs(result.residualFrobeniusNorm - residual) <= 1e-9 * sumNorm, "\(caseName) \(path) k=\(k)")
                #expect(abs(result.frobeniusNorm - sumNorm) <= 1e-9 * sumNorm)
                let kept = try #require(t["frobenius"] as? Double)
                #expect(abs(LowRank.frobeniusNorm(of: result.update) - kept) <= 1e-9 * sumNorm)
            }
        }
    }

    static func method(_ args: [String: Any], inputRanks: [Int]) throws -> MergeMethod {
        let type = try #require(args["combination_type"] as? String)
        let rank = (args["svd_rank"] as? Int) ?? inputRanks.max() ?? 0
        switch type {
        case "svd": return .svd(rank: rank)
        case "cat": return .cat
        case "ties_svd":
            let signName = try #require(args["majority_sign_method"] as? String)
            let sign = try #require(MajoritySignMethod(rawValue: signName))
            return .ties(density: try #require(args["density"] as? Double), rank: rank, majoritySign: sign)
        default:
            Issue.record("no adapterd method for combination type \(type)")
            return .cat
        }
    }

    @Test(arguments: ["svd", "svd_abc", "cat", "cat_abc", "ties_svd", "ties_svd_abc"])
    func mergesMatchPEFTAddWeightedAdapter(caseName: String) throws {
        let cases = try #require(try LowRankFixtureTests.json("merge/expected_peft.json")["cases"] as? [String: Any])
        let golden = try #require(cases[caseName] as? [String: Any])
        let adapters = try #require(golden["adapters"] as? [String]).map(LowRankFixtureTests.loadFixture)
        let args = try #require(golden["add_weighted_adapter_args"] as? [String: Any])
        let weights = try #require(args["weights"] as? [Double])
        let method = try Self.method(args, inputRanks: adapters.map { $0.config.r })
        let merged = try AdapterMerger.merge(adapters, weights: weights, method: method)

        let dir = try #require(golden["dir"] as? String)
        let peft = try PEFTAdapterLoader.load(directory: try #require(LowRankFixtureTests.fixturesURL).appendingPathComponent("merge/\(dir)"))
        let config = try #require(golden["merged_config"] as? [String: Any])
        #expect(merged.config.r == config["r"] as? Int)
        #expect(merged.config.loraAlpha == config["lora_alpha"] as? Double)
        #expect(merged.config.baseModelNameOrPath == config["base_model_name_or_path"] as? String)
        #expect(!merged.config.useRSLoRA)
        #expect(Set(merged.config.targetModules) == Set(try #require(config["target_modules"] as? [String])))

        let modules = try #require(golden["modules"] as? [String: [String: Any]])
        #expect(merged.modules.count == modules.count)
        for path in modules.keys {
            let ours = try #require(Self.module(merged, path), "merged adapter lacks \(path)")
            let theirs = try #require(Self.module(peft, path))
            #expect(ours.rank == theirs.rank && ours.scale == 1)
            let error = try Self.relativeDifference(ours.update, theirs.update)
            #expect(error <= 1e-4, "\(caseName) \(path): relative Frobenius error \(error)")
        }
    }
}
