import Foundation

/// One few-shot example of a task: the input text and optionally its label or expected output.
public struct TaskExample: Sendable, Hashable, Codable {
    public var text: String
    public var label: String?
    public var output: String?

    public init(text: String, label: String? = nil, output: String? = nil) {
        self.text = text
        self.label = label
        self.output = output
    }
}

/// Why an examples file was refused; `line` is 1-based (nil for whole-file problems).
public struct ExamplesFileError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable, CaseIterable {
        case unreadableFile
        case notUTF8
        case lineTooLong
        case invalidJSON
        case notAnObject
        case missingText
        case emptyText
        case wrongFieldType
        case tooManyExamples
        case noExamples
    }

    public let code: Code
    public let line: Int?
    public let message: String

    public init(_ code: Code, line: Int?, _ message: String) {
        self.code = code
        self.line = line
        self.message = message
    }

    public var description: String {
        if let line { return "examples file, line \(line): \(message)" }
        return "examples file: \(message)"
    }
}

/// Parses a task's few-examples JSONL file: one JSON object per line with a required non-empty
/// string "text" and optional string "label" and "output" (null counts as absent); other fields are
/// ignored; blank lines are skipped; `\n` and `\r\n` line ends are accepted.
public enum ExamplesFile {
    /// Bounds on what is accepted.
    public struct Limits: Sendable, Hashable {
        public var maxExamples: Int
        /// Longest line in bytes (without its line end).
        public var maxLineBytes: Int

        public init(maxExamples: Int = 1000, maxLineBytes: Int = 64 * 1024) {
            self.maxExamples = maxExamples
            self.maxLineBytes = maxLineBytes
        }
    }

    /// Largest examples file `load` reads (the daemon's default max-examples-size).
    public static let maximumFileBytes = 16 * 1024 * 1024

    /// Reads and parses an examples file, which must be a regular file (`RegularFile`) of at most
    /// `maximumBytes`.
    public static func load(contentsOf url: URL, limits: Limits = Limits(),
                            maximumBytes: Int = maximumFileBytes) throws(ExamplesFileError) -> [TaskExample] {
        let data: Data
        do {
            data = try RegularFile.read(url, maximumBytes: maximumBytes)
        } catch {
            throw ExamplesFileError(.unreadableFile, line: nil, error.message)
        }
        return try parse(data, limits: limits)
    }

    public static func parse(_ data: Data, limits: Limits = Limits()) throws(ExamplesFileError) -> [TaskExample] {
        var examples: [TaskExample] = []
        let bytes = [UInt8](data)
        var lineNumber = 0
        var start = 0
        while start < bytes.count {
            lineNumber += 1
            var end = start
            while end < bytes.count, bytes[end] != 0x0A { end += 1 }
            var lineEnd = end
            if lineEnd > start, bytes[lineEnd - 1] == 0x0D { lineEnd -= 1 }
            let line = bytes[start..<lineEnd]
            start = end + 1
            guard line.count <= limits.maxLineBytes else {
                throw ExamplesFileError(
                    .lineTooLong, line: lineNumber, "line is \(line.count) bytes; the limit is \(limits.maxLineBytes)")
            }
            guard String(validating: line, as: UTF8.self) != nil else {
                throw ExamplesFileError(.notUTF8, line: lineNumber, "line is not valid UTF-8")
            }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            guard examples.count < limits.maxExamples else {
                throw ExamplesFileError(
                    .tooManyExamples, line: lineNumber, "more than \(limits.maxExamples) examples")
            }
            examples.append(try parseLine(line, lineNumber))
        }
        guard !examples.isEmpty else {
            throw ExamplesFileError(.noExamples, line: nil, "no examples (expected one JSON object per line)")
        }
        return examples
    }

    private static func parseLine(_ line: ArraySlice<UInt8>, _ n: Int) throws(ExamplesFileError) -> TaskExample {
        let json: StrictJSON.Value
        do {
            json = try StrictJSON.parse(line)
        } catch {
            throw ExamplesFileError(.invalidJSON, line: n, "not valid JSON: \(error.description)")
        }
        guard json.members != nil else {
            throw ExamplesFileError(.notAnObject, line: n, "expected a JSON object, found \(json.kindName)")
        }
        guard let textValue = json["text"] else {
            throw ExamplesFileError(.missingText, line: n, "the object has no \"text\" field")
        }
        guard let text = textValue.string else {
            throw ExamplesFileError(.wrongFieldType, line: n, "\"text\" is \(textValue.kindName); expected a string")
        }
        guard !text.allSatisfy(\.isWhitespace) else {
            throw ExamplesFileError(.emptyText, line: n, "\"text\" is empty")
        }
        func optional(_ key: String) throws(ExamplesFileError) -> String? {
            guard let v = json[key], !v.isNull else { return nil }
            guard let s = v.string else {
                throw ExamplesFileError(.wrongFieldType, line: n, "\"\(key)\" is \(v.kindName); expected a string")
            }
            return s
        }
        return TaskExample(text: text, label: try optional("label"), output: try optional("output"))
    }
}
