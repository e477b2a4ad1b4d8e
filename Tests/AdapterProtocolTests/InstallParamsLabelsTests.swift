import AdapterProtocol
import Foundation
import Testing

/// The optional `labels` of `install` (issue 17) keeps the params backward compatible both ways.
@Suite("install labels param")
struct InstallParamsLabelsTests {
    @Test func labelsAreOptionalOnTheWire() throws {
        let old = #"{"task":"t","config":"{}","safetensors":"","examples":"{\"text\":\"a\"}\n"}"#
        let decoded = try JSONDecoder().decode(InstallParams.self, from: Data(old.utf8))
        #expect(decoded.labels == nil && decoded.task == "t")
        let plain = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(decoded)) as? [String: Any]
        #expect(plain?["labels"] == nil)

        var named = decoded
        named.labels = ["neg", "pos"]
        let object = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(named)) as? [String: Any]
        #expect(object?["labels"] as? [String] == ["neg", "pos"])
        #expect(try JSONDecoder().decode(InstallParams.self, from: try JSONEncoder().encode(named)) == named)
    }
}
