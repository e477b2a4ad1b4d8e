@testable import AdapterCLI
@testable import AdapterCore
import AdapterProtocol
import Foundation
import Testing

/// Every JSON document adapterctl prints is an object with `"schema": 1` beside the members it had.
@Suite("adapterctl --json: schema version")
struct JSONSchemaTests {
    static func object(_ text: String?) throws -> [String: Any] {
        let text = try #require(text)
        return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    /// `value` encoded as it was before the schema member (the daemon's result as is).
    static func plain<T: Encodable>(_ value: T) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(value)) as? [String: Any])
    }

    @Test func daemonResultsGetTheSchemaAndKeepEveryMember() throws {
        let budget = BudgetStatus(limit: .bytes(64 << 20), servedBytes: 1234, archiveBytes: 99, source: "budget.set")
        var printed = try Self.object(Output.json(budget))
        #expect(printed.removeValue(forKey: "schema") as? Int == 1)
        #expect(NSDictionary(dictionary: printed) == NSDictionary(dictionary: try Self.plain(budget)))
        #expect(Output.jsonSchemaVersion == 1)
    }

    @Test func nestedResultsKeepTheirShape() throws {
        let plan = ServedSetTypesFixture.plan
        var printed = try Self.object(Output.json(plan))
        #expect(printed.removeValue(forKey: "schema") as? Int == 1)
        #expect(NSDictionary(dictionary: printed) == NSDictionary(dictionary: try Self.plain(plan)))
        #expect((printed["clusters"] as? [[String: Any]])?.first?["schema"] == nil)   // top level only
    }

    @Test func aValueThatIsNotAnObjectIsWrappedNotCrashedOn() throws {
        let printed = try Self.object(Output.json(["a", "b"]))
        #expect(printed["schema"] as? Int == 1)
        #expect(printed["value"] as? [String] == ["a", "b"])
    }

    @Test func errorDocumentsHaveItToo() throws {
        let failure = RPCFailure(id: nil, error: RPCError(code: .notFound, message: "no task 'x'"))
        let printed = try Self.object(Output.json(failure))
        #expect(printed["schema"] as? Int == 1)
        #expect((printed["error"] as? [String: Any])?["message"] as? String == "no task 'x'")
    }

    @Test func scanLinesAndInspectReportsHaveIt() throws {
        let line = try Self.object(ScanPrinter.jsonLine(ScanResult(path: "/a", verdict: nil, error: "unreadable", seconds: 0.25)))
        #expect(line["schema"] as? Int == 1)
        #expect(line["verdict"] as? String == "error" && line["path"] as? String == "/a")
        #expect(line["seconds"] as? Double == 0.25)
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("AdapterCoreTests/Fixtures/peft/llama_gqa_f16")
        let adapter = try PEFTAdapterLoader.load(directory: fixtures)
        let report = AdapterReport(adapter: adapter, signature: try SignatureExtractor.signature(of: adapter))
        let inspected = try Self.object(try report.jsonString())
        #expect(inspected["schema"] as? Int == 1)
        #expect(inspected["rank"] as? Int == 8)
    }
}
