import Foundation

/// The shapes an examples line may have, and how each becomes one `TaskExample` (input text,
/// optional label, optional output). A line is recognised by which of the keys "text", "input",
/// "instruction", "prompt", "messages" it carries (a null value counts as absent); exactly one shape
/// must match, else the line is refused: none → `unrecognisedShape` (the message lists the shapes),
/// two or more (e.g. both "text" and "messages") → `ambiguousShape`. Other keys are ignored.
///
/// - `{"text", "label"?, "output"?}`: text as is; label a string or an integer.
/// - `{"input", "output"?, "label"?}` (no "instruction"): input as the text.
/// - Alpaca `{"instruction", "input"?, "output"?}`: text = instruction, plus "\n\n" + input when the
///   input is present and not all whitespace.
/// - `{"prompt", "completion"?}`: prompt as the text, completion as the output.
/// - Chat `{"messages": [{"role", "content"}, …]}`: text = the content of every "user" turn before
///   the last "assistant" turn (all user turns if there is none), joined with "\n\n"; output = the
///   last assistant turn's content. "system" and other roles are not part of the text (a system
///   prompt is usually shared boilerplate that would make every task's examples look alike).
///
/// An integer label (a JSON number written as an integer) is replaced by `labelNames[label]` when
/// names are given (out of range is refused), else kept as its decimal string.
enum ExampleShape: String, CaseIterable {
    case text, inputOutput, alpaca, promptCompletion, chat

    /// The accepted shapes, for error messages.
    static let listing = #"{"text", "label"?: string or integer, "output"?}; {"input", "output"?}; "#
        + #"{"instruction", "input"?, "output"?}; {"prompt", "completion"?}; "#
        + #"{"messages": [{"role", "content"}, …]}"#

    /// The key that identifies the shape on a line.
    var key: String {
        switch self {
        case .text: "text"
        case .inputOutput: "input"
        case .alpaca: "instruction"
        case .promptCompletion: "prompt"
        case .chat: "messages"
        }
    }

    /// The shape of an object line, or the error saying why none fits.
    static func recognise(_ json: StrictJSON.Value, line n: Int) throws(ExamplesFileError) -> ExampleShape {
        func has(_ key: String) -> Bool { json[key].map { !$0.isNull } ?? false }
        var found = allCases.filter { has($0.key) }
        // Alpaca's "input" is part of that shape, not a second one.
        if found.contains(.alpaca) { found.removeAll { $0 == .inputOutput } }
        guard let shape = found.first else {
            throw ExamplesFileError(.unrecognisedShape, line: n,
                                    "the object is none of the accepted shapes: \(listing)")
        }
        guard found.count == 1 else {
            let keys = found.map { "\"\($0.key)\"" }.joined(separator: " and ")
            throw ExamplesFileError(.ambiguousShape, line: n,
                                    "the object has both \(keys); a line must have exactly one of the accepted shapes: \(listing)")
        }
        return shape
    }

    /// The example a line of this shape holds.
    func example(_ json: StrictJSON.Value, line n: Int, labelNames: [String]?) throws(ExamplesFileError) -> TaskExample {
        func string(_ key: String, in object: StrictJSON.Value = json, what: String? = nil) throws(ExamplesFileError) -> String? {
            guard let v = object[key], !v.isNull else { return nil }
            guard let s = v.string else {
                throw ExamplesFileError(.wrongFieldType, line: n, "\(what ?? "\"\(key)\"") is \(v.kindName); expected a string")
            }
            return s
        }
        let text: String
        var label: String?
        var output: String?
        switch self {
        case .text, .inputOutput:
            text = try string(key) ?? ""
            label = try Self.label(json, line: n, labelNames: labelNames)
            output = try string("output")
        case .alpaca:
            let instruction = try string("instruction") ?? ""
            let input = try string("input") ?? ""
            text = input.allSatisfy(\.isWhitespace) ? instruction : instruction + "\n\n" + input
            output = try string("output")
        case .promptCompletion:
            text = try string("prompt") ?? ""
            output = try string("completion")
        case .chat:
            (text, output) = try Self.chat(json, line: n)
        }
        guard !text.allSatisfy(\.isWhitespace) else {
            throw ExamplesFileError(.emptyText, line: n, "the \(self == .chat ? "user turns are" : "\"\(key)\" is") empty")
        }
        return TaskExample(text: text, label: label, output: output)
    }

    private static func label(_ json: StrictJSON.Value, line n: Int, labelNames: [String]?) throws(ExamplesFileError) -> String? {
        guard let v = json["label"], !v.isNull else { return nil }
        if let s = v.string { return s }
        guard let index = v.integer else {
            throw ExamplesFileError(.wrongFieldType, line: n, "\"label\" is \(v.kindName) but not an integer; expected a string or an integer")
        }
        guard let labelNames else { return String(index) }
        guard labelNames.indices.contains(index) else {
            throw ExamplesFileError(.labelOutOfRange, line: n,
                                    "\"label\" is \(index) but there are \(labelNames.count) label names (0…\(labelNames.count - 1))")
        }
        return labelNames[index]
    }

    private static func chat(_ json: StrictJSON.Value, line n: Int) throws(ExamplesFileError) -> (String, String?) {
        guard let messagesValue = json["messages"], let messages = messagesValue.elements else {
            throw ExamplesFileError(.wrongFieldType, line: n, "\"messages\" is \(json["messages"]?.kindName ?? "absent"); expected an array")
        }
        var turns: [(role: String, content: String)] = []
        for (i, message) in messages.enumerated() {
            guard message.members != nil else {
                throw ExamplesFileError(.wrongFieldType, line: n, "\"messages\"[\(i)] is \(message.kindName); expected an object")
            }
            func field(_ key: String) throws(ExamplesFileError) -> String {
                guard let v = message[key] else {
                    throw ExamplesFileError(.wrongFieldType, line: n, "\"messages\"[\(i)] has no \"\(key)\"")
                }
                guard let s = v.string else {
                    throw ExamplesFileError(.wrongFieldType, line: n, "\"messages\"[\(i)].\(key) is \(v.kindName); expected a string")
                }
                return s
            }
            turns.append((try field("role"), try field("content")))
        }
        let lastAssistant = turns.lastIndex { $0.role == "assistant" }
        let asked = turns[..<(lastAssistant ?? turns.count)].filter { $0.role == "user" }.map(\.content)
        return (asked.joined(separator: "\n\n"), lastAssistant.map { turns[$0].content })
    }
}
