import Foundation
import Testing

import AdapterCore

/// The examples shapes of issue 17: each is recognised per line and normalised to `TaskExample`.
@Suite("Examples shapes")
struct ExampleShapeTests {
    typealias E = ExamplesFileTests

    @Test func eachShapeIsNormalised() throws {
        let text = """
            {"text": "great movie", "label": "pos"}
            {"input": "fix: teh cat", "output": "the cat"}
            {"instruction": "Translate to French", "input": "good morning", "output": "bonjour"}
            {"instruction": "Name a colour", "input": "  ", "output": "red"}
            {"prompt": "2+2=", "completion": "4"}
            {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "weather?"}, {"role": "assistant", "content": "sunny"}]}
            {"messages": [{"role": "user", "content": "only a question"}]}

            """
        #expect(try E.parse(text) == [
            TaskExample(text: "great movie", label: "pos"),
            TaskExample(text: "fix: teh cat", output: "the cat"),
            TaskExample(text: "Translate to French\n\ngood morning", output: "bonjour"),
            TaskExample(text: "Name a colour", output: "red"),
            TaskExample(text: "2+2=", output: "4"),
            TaskExample(text: "hi\n\nweather?", output: "sunny"),
            TaskExample(text: "only a question"),
        ])
    }

    @Test func integerLabelsWithoutNamesKeepTheirDecimalString() throws {
        #expect(try E.parse("{\"text\": \"bad\", \"label\": 0}\n{\"text\": \"good\", \"label\": 1}\n") == [
            TaskExample(text: "bad", label: "0"), TaskExample(text: "good", label: "1"),
        ])
    }

    @Test func integerLabelsAreNamedByTheMetadataLineOrTheCaller() throws {
        let lines = "{\"text\": \"bad\", \"label\": 0}\n{\"text\": \"good\", \"label\": 1}\n"
        let named = [TaskExample(text: "bad", label: "neg"), TaskExample(text: "good", label: "pos")]
        #expect(try E.parse("\n{\"labels\": [\"neg\", \"pos\"]}\n" + lines) == named)
        #expect(try ExamplesFile.parse(Data(lines.utf8), labelNames: ["neg", "pos"]) == named)
        #expect(try ExamplesFile.parse(Data(("{\"labels\": [\"neg\", \"pos\"]}\n" + lines).utf8),
                                       labelNames: ["neg", "pos"]) == named)
        // The metadata line is not an example, and only the first line may be one.
        E.expectError("{\"labels\": [\"neg\", \"pos\"]}\n", .noExamples, line: nil)
        E.expectError(lines + "{\"labels\": [\"neg\", \"pos\"]}\n", .unrecognisedShape, line: 3)
        E.expectError("{\"labels\": [\"neg\"]}\n" + lines, .labelOutOfRange, line: 3)
        E.expectError("{\"text\": \"a\", \"label\": -1}\n{\"labels\": [\"x\"]}\n", .unrecognisedShape, line: 2)
        E.expectError("{\"labels\": [\"neg\", \"neg\"]}\n" + lines, .invalidLabels, line: 1)
        E.expectError("{\"labels\": [\"neg\", 1]}\n" + lines, .invalidLabels, line: 1)
        E.expectError("{\"labels\": \"neg\"}\n" + lines, .invalidLabels, line: 1)
        do {
            _ = try ExamplesFile.parse(Data(("{\"labels\": [\"a\", \"b\"]}\n" + lines).utf8), labelNames: ["neg", "pos"])
            Issue.record("accepted two different label lists")
        } catch {
            #expect(error.code == .invalidLabels && error.line == 1)
        }
        do {
            _ = try ExamplesFile.parse(Data(lines.utf8), labelNames: ["neg", ""])
            Issue.record("accepted an empty label name")
        } catch {
            #expect(error.code == .invalidLabels && error.line == nil)
        }
    }

    @Test func aLineOfNoShapeGetsOneErrorListingTheShapes() throws {
        let error = try #require(throws: ExamplesFileError.self) {
            _ = try E.parse("{\"text\": \"ok\"}\n{\"question\": \"what?\", \"answer\": \"that\"}\n")
        }
        #expect(error.code == .unrecognisedShape && error.line == 2)
        for key in ["\"text\"", "\"input\"", "\"instruction\"", "\"prompt\"", "\"completion\"", "\"messages\"", "integer"] {
            #expect(error.message.contains(key), "\(error)")
        }
    }

    @Test func mixedShapesInOneFileAreAcceptedButTwoShapesOnOneLineAreNot() throws {
        #expect(try E.parse("{\"text\": \"a\"}\n{\"prompt\": \"b\"}\n").map(\.text) == ["a", "b"])
        E.expectError("{\"text\": \"a\", \"messages\": [{\"role\": \"user\", \"content\": \"b\"}]}\n", .ambiguousShape, line: 1)
        E.expectError("{\"text\": \"a\", \"prompt\": \"b\"}\n", .ambiguousShape, line: 1)
        E.expectError("{\"input\": \"a\", \"prompt\": \"b\"}\n", .ambiguousShape, line: 1)
        // A null identifying key counts as absent.
        #expect(try E.parse("{\"text\": null, \"prompt\": \"b\"}\n") == [TaskExample(text: "b")])
    }

    @Test func wrongTypesAndEmptyInputsAreRefusedWithTheirLine() {
        E.expectError("{\"instruction\": 3}\n", .wrongFieldType, line: 1)
        E.expectError("{\"instruction\": \"x\", \"input\": [1]}\n", .wrongFieldType, line: 1)
        E.expectError("{\"prompt\": \"x\", \"completion\": 4}\n", .wrongFieldType, line: 1)
        E.expectError("{\"messages\": \"hi\"}\n", .wrongFieldType, line: 1)
        E.expectError("{\"messages\": [\"hi\"]}\n", .wrongFieldType, line: 1)
        E.expectError("{\"messages\": [{\"role\": \"user\"}]}\n", .wrongFieldType, line: 1)
        E.expectError("{\"messages\": [{\"role\": \"user\", \"content\": 1}]}\n", .wrongFieldType, line: 1)
        E.expectError("{\"messages\": [{\"role\": \"system\", \"content\": \"s\"}, {\"role\": \"assistant\", \"content\": \"a\"}]}\n",
                      .emptyText, line: 1)
        E.expectError("{\"messages\": []}\n", .emptyText, line: 1)
        E.expectError("{\"input\": \" \", \"output\": \"x\"}\n", .emptyText, line: 1)
        E.expectError("{\"text\": \"a\", \"label\": true}\n", .wrongFieldType, line: 1)
    }

    @Test func theNormalisedJSONLParsesBackToTheSameExamples() throws {
        let examples = [
            TaskExample(text: "line one\nline \"two\" é \u{1}", label: "neg"),
            TaskExample(text: "b", output: "out/put"),
            TaskExample(text: "c"),
        ]
        let data = ExamplesFile.normalisedJSONL(examples)
        #expect(String(decoding: data, as: UTF8.self).split(separator: "\n").count == 3)
        #expect(try ExamplesFile.parse(data) == examples)
    }
}

extension ExampleShapeTests {
    @Test func normaliseRefusesALineThatANamedLabelMakesTooLong() throws {
        let limits = ExamplesFile.Limits(maxLineBytes: 40)
        let data = Data("{\"labels\": [\"a-rather-long-label-name\"]}\n{\"text\": \"abcdefghij\", \"label\": 0}\n".utf8)
        #expect(try ExamplesFile.parse(data, limits: limits) == [TaskExample(text: "abcdefghij", label: "a-rather-long-label-name")])
        do {
            _ = try ExamplesFile.normalise(data, limits: limits)
            Issue.record("stored a line longer than the limit")
        } catch {
            #expect(error.code == .lineTooLong, "\(error)")
        }
        let (examples, jsonl) = try ExamplesFile.normalise(data)
        #expect(try ExamplesFile.parse(jsonl) == examples)
    }
}
