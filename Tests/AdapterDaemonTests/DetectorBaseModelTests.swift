@testable import AdapterDaemon
import AdapterCore
import Foundation
import Testing

@Suite("Detector base model")
struct DetectorBaseModelTests {
    @Test func loadsTheCorpusLlamaTinyTable() throws {
        let baseModel = try DetectorBaseModel.load(path: CorpusFiles.llamaTiny)
        #expect(baseModel.path == CorpusFiles.llamaTiny)
        #expect(baseModel.table.architecture == .llama)
        #expect(baseModel.table.hiddenSize == 128)
        #expect(baseModel.table.vectors.cols == 128)
        #expect(baseModel.table.tokens.count == baseModel.table.vectors.rows)
        #expect(baseModel.shape == "llama-128, \(baseModel.table.tokens.count) tokens")
        #expect(baseModel.summary == "\(CorpusFiles.llamaTiny) (\(baseModel.shape))")
        #expect(baseModel.isSame(path: CorpusFiles.llamaTiny + "/"))
        #expect(!baseModel.isSame(path: CorpusFiles.llamaTiny + "-other"))
    }

    static func loadError(_ path: String) -> String? {
        do {
            _ = try DetectorBaseModel.load(path: path)
            return nil
        } catch {
            return error.message
        }
    }

    @Test func unreadableBaseModelsGiveErrorsThatNameThePathAndTheProblem() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let missing = directory.path + "/missing"
        #expect(Self.loadError(missing)?.contains("detector-base-model \(missing) is not a directory") == true)

        let empty = directory.path + "/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: false)
        let noConfig = try #require(Self.loadError(empty))
        #expect(noConfig.contains("cannot read the token embeddings of detector-base-model \(empty)"))
        #expect(noConfig.contains("no config.json"))

        let broken = directory.path + "/broken"
        try FileManager.default.createDirectory(atPath: broken, withIntermediateDirectories: false)
        try Data("{\"model_type\": \"llama\"}".utf8).write(to: URL(fileURLWithPath: broken + "/config.json"))
        try Data("not a safetensors file".utf8).write(to: URL(fileURLWithPath: broken + "/model.safetensors"))
        let malformed = try #require(Self.loadError(broken))
        #expect(malformed.contains(broken + "/model.safetensors"))

        let unsupported = directory.path + "/t5"
        try FileManager.default.createDirectory(atPath: unsupported, withIntermediateDirectories: false)
        try Data("{\"model_type\": \"t5\"}".utf8).write(to: URL(fileURLWithPath: unsupported + "/config.json"))
        try FileManager.default.copyItem(atPath: CorpusFiles.llamaTiny + "/model.safetensors",
                                         toPath: unsupported + "/model.safetensors")
        #expect(Self.loadError(unsupported)?.contains("'t5'") == true)
    }
}
