import Foundation

/// One few-shot example of a task in the normalised form every shape of examples line becomes
/// (`ExampleShape`): the input text and optionally its label or expected output.
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
        /// The object is none of the accepted shapes (the message lists them).
        case unrecognisedShape
        /// The object has the keys of two shapes (e.g. "text" and "messages").
        case ambiguousShape
        case emptyText
        case wrongFieldType
        /// An integer label with no name at that index.
        case labelOutOfRange
        /// Label names that are not a list of distinct non-empty strings of at most
        /// `ExamplesFile.maximumLabelNameBytes`, or two lists that disagree.
        case invalidLabels
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

/// Parses a task's few-examples JSONL file: one JSON object per line, each in one of the shapes of
/// `ExampleShape` (shapes may be mixed line by line), normalised to `TaskExample`; blank lines are
/// skipped; `\n` and `\r\n` line ends are accepted. The first non-blank line may instead be a
/// metadata line `{"labels": ["neg", "pos", …]}` (an object with only the key "labels"), which names
/// integer labels by index; names may also be given by the caller (`labelNames`, from
/// `adapterctl install --labels`); if both are given they must be equal.
///
/// The daemon stores the normalised form (`normalisedJSONL`), not the bytes sent, so every later
/// reader (text routing, re-clustering, external evaluators) sees `{"text", "label"?, "output"?}`.
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

    /// Most label names, and the longest name in UTF-8 bytes.
    public static let maximumLabelNames = 1000
    public static let maximumLabelNameBytes = 256

    /// Checks label names: at most `maximumLabelNames` distinct, non-empty names of at most
    /// `maximumLabelNameBytes`. `line` is where they came from (nil: not from the file).
    public static func validateLabelNames(_ names: [String], line: Int? = nil) throws(ExamplesFileError) {
        guard !names.isEmpty, names.count <= maximumLabelNames else {
            throw ExamplesFileError(.invalidLabels, line: line, "expected 1 to \(maximumLabelNames) label names, found \(names.count)")
        }
        var seen = Set<String>()
        for name in names {
            guard !name.allSatisfy(\.isWhitespace), name.utf8.count <= maximumLabelNameBytes else {
                throw ExamplesFileError(.invalidLabels, line: line,
                                        "a label name is empty or longer than \(maximumLabelNameBytes) bytes")
            }
            guard seen.insert(name).inserted else {
                throw ExamplesFileError(.invalidLabels, line: line, "the label name \"\(name)\" appears twice")
            }
        }
    }

    /// The normalised JSONL of examples: one compact `{"text", "label"?, "output"?}` object per line.
    public static func normalisedJSONL(_ examples: [TaskExample]) -> Data {
        Data(examples.map { line(of: $0) + "\n" }.joined().utf8)
    }

    /// The number of examples in a normalised JSONL file (`normalisedJSONL`): its non-blank lines.
    public static func normalisedCount(_ jsonl: Data) -> Int {
        jsonl.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
            .filter { line in line.contains { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D } }.count
    }

    /// Parses an examples file and returns its examples with their normalised JSONL (what the daemon
    /// stores), checking that the normalised form parses back under the same `limits`: naming an
    /// integer label can make a line longer than it was, and a stored file must stay readable.
    public static func normalise(_ data: Data, limits: Limits = Limits(), labelNames: [String]? = nil)
        throws(ExamplesFileError) -> (examples: [TaskExample], jsonl: Data) {
        let examples = try parse(data, limits: limits, labelNames: labelNames)
        let lines = examples.map(line(of:))  // serialised once: checked, then joined
        for (i, line) in lines.enumerated() {
            let length = line.utf8.count
            guard length <= limits.maxLineBytes else {
                throw ExamplesFileError(.lineTooLong, line: nil,
                                        "example \(i + 1) is \(length) bytes once normalised (its label named); the limit is \(limits.maxLineBytes)")
            }
        }
        return (examples, Data(lines.map { $0 + "\n" }.joined().utf8))
    }

    private static func line(of example: TaskExample) -> String {
        var members = [StrictJSON.Member(key: "text", value: .string(example.text))]
        if let label = example.label { members.append(.init(key: "label", value: .string(label))) }
        if let output = example.output { members.append(.init(key: "output", value: .string(output))) }
        return StrictJSON.serialize(.object(members))
    }

    /// Reads and parses an examples file, which must be a regular file (`RegularFile`) of at most
    /// `maximumBytes`.
    public static func load(contentsOf url: URL, limits: Limits = Limits(), labelNames: [String]? = nil,
                            maximumBytes: Int = maximumFileBytes) throws(ExamplesFileError) -> [TaskExample] {
        let data: Data
        do {
            data = try RegularFile.read(url, maximumBytes: maximumBytes)
        } catch {
            throw ExamplesFileError(.unreadableFile, line: nil, error.message)
        }
        return try parse(data, limits: limits, labelNames: labelNames)
    }

    public static func parse(_ data: Data, limits: Limits = Limits(),
                             labelNames: [String]? = nil) throws(ExamplesFileError) -> [TaskExample] {
        if let labelNames { try validateLabelNames(labelNames) }
        var names = labelNames
        var sawFirstLine = false
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
            let json = try object(line, lineNumber)
            if !sawFirstLine {
                sawFirstLine = true
                if let fileNames = try metadataLabels(json, lineNumber) {
                    if let names, names != fileNames {
                        throw ExamplesFileError(.invalidLabels, line: lineNumber,
                                                "the metadata line's labels differ from the label names given with the install")
                    }
                    names = fileNames
                    continue
                }
            }
            guard examples.count < limits.maxExamples else {
                throw ExamplesFileError(
                    .tooManyExamples, line: lineNumber, "more than \(limits.maxExamples) examples")
            }
            let shape = try ExampleShape.recognise(json, line: lineNumber)
            examples.append(try shape.example(json, line: lineNumber, labelNames: names))
        }
        guard !examples.isEmpty else {
            throw ExamplesFileError(.noExamples, line: nil, "no examples (expected one JSON object per line)")
        }
        return examples
    }

    private static func object(_ line: ArraySlice<UInt8>, _ n: Int) throws(ExamplesFileError) -> StrictJSON.Value {
        let json: StrictJSON.Value
        do {
            json = try StrictJSON.parse(line)
        } catch {
            throw ExamplesFileError(.invalidJSON, line: n, "not valid JSON: \(error.description)")
        }
        guard json.members != nil else {
            throw ExamplesFileError(.notAnObject, line: n, "expected a JSON object, found \(json.kindName)")
        }
        return json
    }

    /// The label names of a metadata line (an object whose only key is "labels"), or nil if the
    /// object is not one.
    private static func metadataLabels(_ json: StrictJSON.Value, _ n: Int) throws(ExamplesFileError) -> [String]? {
        guard let members = json.members, members.count == 1, members[0].key == "labels" else { return nil }
        guard let elements = members[0].value.elements else {
            throw ExamplesFileError(.invalidLabels, line: n, "\"labels\" is \(members[0].value.kindName); expected an array of strings")
        }
        var names: [String] = []
        for element in elements {
            guard let name = element.string else {
                throw ExamplesFileError(.invalidLabels, line: n, "a label name is \(element.kindName); expected a string")
            }
            names.append(name)
        }
        try validateLabelNames(names, line: n)
        return names
    }
}
