@testable import AdapterCore
import Foundation
import Testing

/// The built-in detector models as shipped files: found in the build tree's resource bundle or an
/// installation's share/adapterd, a clear error when missing, and the same numbers as before they
/// were files.
@Suite("DefaultDetectorModelFiles")
struct DefaultDetectorModelFileTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("data/corpus")

    /// Scores of the built-in models on corpus adapters, measured with the models as they were embedded
    /// in Swift source (DefaultDetectorModelData.swift) before they shipped as JSON files.
    static let weightsOnlyScores: [(id: String, score: Double)] = [
        ("minilm-000-sentiment_product_reviews", 0.3046367384221683),
        ("minilm-002-sentiment_restaurant_reviews", 0.07262548664602078),
        ("minilm-003-sentiment_tweets", 0.40728175693091007),
        ("llama-000-sentiment_product_reviews", 0.9587671753172372),
        ("llama-001-sentiment_movie_reviews", 0.36034077382568064),
        ("llama-053-formality_customer_letters", 0.42334353955616855),
    ]
    static let withTokensScores: [(id: String, score: Double)] = [
        ("llama-000-sentiment_product_reviews", 0.9392904999905938),
        ("llama-001-sentiment_movie_reviews", 0.12902257950761511),
        ("llama-053-formality_customer_letters", 0.7844236466342284),
    ]

    static func adapter(_ id: String) throws -> LoRAAdapter {
        try PEFTAdapterLoader.load(directory: corpus.appendingPathComponent("adapters/\(id)"))
    }

    @Test("the shipped files hold the numbers the models had when embedded in Swift source")
    func sameNumbersAsBefore() throws {
        let weights = try DefaultDetectorModels.weightsOnly()
        let tokens = try #require(try DefaultDetectorModels.withTokens())
        // Read from JSON, so exact on every machine.
        #expect(weights.threshold == 0.9920018552915796 && weights.intercept == 0.793276108976065)
        #expect(tokens.threshold == 0.9951594581528223 && tokens.intercept == 0.9672620803771753)
        #expect(weights.coefficients.reduce(0, +) == -2.7495024453321952)
        #expect(tokens.coefficients.reduce(0, +) == 2.6217949358713346)
        // Whole pipeline (features need LAPACK, whose last bits may differ between machines).
        let weightsDetector = try Detector(model: weights)
        for (id, expected) in Self.weightsOnlyScores {
            let score = weightsDetector.verdict(for: try Self.adapter(id)).score
            #expect(abs(score - expected) <= 1e-9 * max(1, abs(expected)), "\(id): \(score)")
        }
        let table = try TokenEmbeddingTable.load(directory: Self.corpus.appendingPathComponent("base/llama-tiny"))
        let tokensDetector = try Detector(model: tokens, tokenTables: [table])
        for (id, expected) in Self.withTokensScores {
            let score = tokensDetector.verdict(for: try Self.adapter(id)).score
            #expect(abs(score - expected) <= 1e-9 * max(1, abs(expected)), "\(id): \(score)")
        }
    }

    @Test("a build finds them in the resource bundle next to the executable")
    func foundInTheBuildTree() throws {
        let directories = DefaultDetectorModels.searchDirectories
        #expect(directories.first?.lastPathComponent == ShippedFiles.bundleName)
        let found = try #require(ShippedFiles.locate(DefaultDetectorModels.weightsOnlyFile, in: directories))
        #expect(found.deletingLastPathComponent() == directories.first)
    }

    @Test("an installed binary finds them in share/adapterd beside its bin directory")
    func foundInAnInstallation() throws {
        let prefix = FileManager.default.temporaryDirectory.appendingPathComponent("adapterd-prefix-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: prefix) }
        let bin = prefix.appendingPathComponent("bin"), share = prefix.appendingPathComponent("share/adapterd")
        for directory in [bin, share] { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) }
        let executable = bin.appendingPathComponent("adapterd")
        try Data().write(to: executable)
        let directories = ShippedFiles.directories(executable: executable)
        #expect(directories.map(\.path) == [bin.appendingPathComponent(ShippedFiles.bundleName).path, share.path,
                                            "/usr/share/adapterd"])
        let shipped = try #require(ShippedFiles.locate(DefaultDetectorModels.weightsOnlyFile,
                                                       in: DefaultDetectorModels.searchDirectories)).deletingLastPathComponent()
        // Only the weights-only model installed: there is no token model, and the default is weights-only.
        try FileManager.default.copyItem(at: shipped.appendingPathComponent(DefaultDetectorModels.weightsOnlyFile),
                                         to: share.appendingPathComponent(DefaultDetectorModels.weightsOnlyFile))
        #expect(try DefaultDetectorModels.weightsOnly(searching: directories) == DefaultDetectorModels.weightsOnly())
        #expect(try DefaultDetectorModels.withTokens(searching: directories) == nil)
        try FileManager.default.copyItem(at: shipped.appendingPathComponent(DefaultDetectorModels.withTokensFile),
                                         to: share.appendingPathComponent(DefaultDetectorModels.withTokensFile))
        #expect(try DefaultDetectorModels.withTokens(searching: directories) == DefaultDetectorModels.withTokens())
    }

    @Test("a missing model is an error naming every place looked in, not a crash")
    func missingIsAnError() throws {
        let nowhere = [URL(fileURLWithPath: "/nonexistent/adapterd-a"), URL(fileURLWithPath: "/nonexistent/adapterd-b")]
        for load in [{ _ = try DefaultDetectorModels.weightsOnly(searching: nowhere) },
                     { _ = try DefaultDetectorModels.withTokens(searching: nowhere) }] {
            let error = #expect(throws: DetectorError.self) { try load() }
            #expect(error?.code == .missingModel)
            #expect(error?.message.contains(DefaultDetectorModels.weightsOnlyFile) == true)
            #expect(error?.message.contains("/nonexistent/adapterd-a, /nonexistent/adapterd-b") == true)
        }
    }
}
