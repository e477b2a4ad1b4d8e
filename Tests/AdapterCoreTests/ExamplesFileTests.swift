import Foundation
import Testing

import AdapterCore

@Suite("ExamplesFile")
struct ExamplesFileTests {
    static func parse(_ text: String, limits: ExamplesFile.Limits = .init()) throws(ExamplesFileError) -> [TaskExample] {
        try ExamplesFile.parse(Data(text.utf8), limits: limits)
    }

    static func expectError(_ text: String, _ code: ExamplesFileError.Code, line: Int?,
                            limits: ExamplesFile.Limits = .init(), sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            let examples = try parse(text, limits: limits)
            Issue.record("accepted \(examples.count) examples", sourceLocation: sourceLocation)
        } catch {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
            #expect(error.line == line, "\(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func parsesExamplesSkippingBlankLines() throws {
        let text = "{\"text\": \"great movie\", \"label\": \"positive\"}\r\n\n   \n"
            + "{\"text\": \"fix: teh cat\", \"output\": \"the cat\", \"id\": 7, \"label\": null}\n"
        let examples = try Self.parse(text)
        #expect(examples == [
            TaskExample(text: "great movie", label: "positive"),
            TaskExample(text: "fix: teh cat", output: "the cat"),
        ])
        #expect(try Self.parse("{\"text\": \"no newline at end \\u00e9\"}") == [TaskExample(text: "no newline at end é")])
    }

    @Test func reportsTheLineOfEachProblem() {
        Self.expectError("{\"text\": \"a\"}\n\n{\"text\": \"b\",}\n", .invalidJSON, line: 3)
        Self.expectError("{\"text\": \"a\"}\n[\"text\"]\n", .notAnObject, line: 2)
        Self.expectError("{\"label\": \"x\"}\n", .unrecognisedShape, line: 1)
        Self.expectError("{\"text\": \"  \"}\n", .emptyText, line: 1)
        Self.expectError("{\"text\": 3}\n", .wrongFieldType, line: 1)
        Self.expectError("{\"text\": \"a\", \"label\": 1.5}\n", .wrongFieldType, line: 1)
        Self.expectError("{\"text\": \"a\", \"text\": \"b\"}\n", .invalidJSON, line: 1)
        Self.expectError("\n\n  \n", .noExamples, line: nil)
        Self.expectError("", .noExamples, line: nil)
    }

    @Test func refusesInvalidUTF8() {
        var data = Data("{\"text\": \"ok\"}\n{\"text\": \"".utf8)
        data.append(contentsOf: [0xC3, 0x28])
        data.append(contentsOf: Array("\"}\n".utf8))
        do {
            _ = try ExamplesFile.parse(data)
            Issue.record("accepted invalid UTF-8")
        } catch {
            #expect(error.code == .notUTF8 && error.line == 2)
        }
    }

    @Test func enforcesLimits() throws {
        let line = "{\"text\": \"x\"}\n"
        #expect(try Self.parse(String(repeating: line, count: 5), limits: .init(maxExamples: 5)).count == 5)
        Self.expectError(String(repeating: line, count: 6), .tooManyExamples, line: 6, limits: .init(maxExamples: 5))
        let long = "{\"text\": \"" + String(repeating: "a", count: 100) + "\"}"
        #expect(try Self.parse(long, limits: .init(maxLineBytes: long.utf8.count)).count == 1)
        Self.expectError(line + long, .lineTooLong, line: 2, limits: .init(maxLineBytes: long.utf8.count - 1))
        #expect(ExamplesFile.Limits() == .init(maxExamples: 1000, maxLineBytes: 65536))
    }

    @Test func loadsAFile() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ex-\(UUID().uuidString).jsonl")
        try Data("{\"text\": \"hello\"}\n".utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(try ExamplesFile.load(contentsOf: url) == [TaskExample(text: "hello")])
        do {
            _ = try ExamplesFile.load(contentsOf: url.appendingPathExtension("missing"))
            Issue.record("read a missing file")
        } catch {
            #expect(error.code == .unreadableFile)
        }
    }
}
