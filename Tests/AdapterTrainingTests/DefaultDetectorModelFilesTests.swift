import AdapterCore
@testable import AdapterTraining
import Foundation
import Testing

/// `adapterctl detector emit-default`: trained models written as the files adapterd ships.
@Suite("DefaultDetectorModelFiles writer")
struct DefaultDetectorModelFilesTests {
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("adapterd-defaults-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static var shipped: URL {
        get throws {
            try #require(ShippedFiles.locate(DefaultDetectorModels.weightsOnlyFile,
                                             in: DefaultDetectorModels.searchDirectories)).deletingLastPathComponent()
        }
    }

    @Test("writing the shipped models again reproduces the shipped files byte for byte")
    func reproducesTheShippedFiles() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let written = try DefaultDetectorModelFiles.write(weightsOnly: try DefaultDetectorModels.weightsOnly(),
                                                          withTokens: try DefaultDetectorModels.withTokens(),
                                                          to: directory)
        #expect(written.map(\.lastPathComponent) == [DefaultDetectorModels.weightsOnlyFile, DefaultDetectorModels.withTokensFile])
        for name in [DefaultDetectorModels.weightsOnlyFile, DefaultDetectorModels.withTokensFile] {
            let original = try Data(contentsOf: try Self.shipped.appendingPathComponent(name))
            #expect(try Data(contentsOf: directory.appendingPathComponent(name)) == original, "\(name)")
        }
        #expect(try DefaultDetectorModels.withTokens(searching: [directory]) == DefaultDetectorModels.withTokens())
    }

    @Test("the models must come in their roles, and one model leaves no stale token model behind")
    func rolesAndStaleFiles() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let weights = try DefaultDetectorModels.weightsOnly()
        let tokens = try #require(try DefaultDetectorModels.withTokens())
        #expect(throws: DetectorError.self) { try DefaultDetectorModelFiles.write(weightsOnly: tokens, withTokens: nil, to: directory) }
        #expect(throws: DetectorError.self) { try DefaultDetectorModelFiles.write(weightsOnly: weights, withTokens: weights, to: directory) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
        try DefaultDetectorModelFiles.write(weightsOnly: weights, withTokens: tokens, to: directory)
        try DefaultDetectorModelFiles.write(weightsOnly: weights, withTokens: nil, to: directory)
        #expect(try DefaultDetectorModels.withTokens(searching: [directory]) == nil)
        #expect(try DefaultDetectorModels.model(forBaseModel: true) == tokens)
        #expect(try DefaultDetectorModels.weightsOnly(searching: [directory]) == weights)
    }
}
