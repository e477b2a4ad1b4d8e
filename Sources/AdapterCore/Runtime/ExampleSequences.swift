/// Turns a task's examples into the token sequences its base model reads, the way the task is served:
/// - an encoder (BERT) reads the text alone (`tokenizer.encode`, special tokens included);
/// - a decoder reads the prompt — the word-level tokenizer's template (llama-tiny: `<bos> text =>`),
///   or the text with the tokenizer's special tokens — and, for `promptAndAnswer`, then the answer
///   (the example's `output`, else its `label`) as it was trained on: its words and, for the
///   word-level tokenizer, `<eos>`.
/// Sequences longer than the model's positions keep their first tokens (the model refuses longer ones).
public struct ExampleSequences: Sendable {
    public let tokenizer: any Tokenizer
    /// Whether the model is a decoder (reads answers after prompts).
    public let isDecoder: Bool
    /// The most tokens a sequence may have (the model's positions).
    public let maxLength: Int

    public init(tokenizer: any Tokenizer, model: BaseModel) {
        self.tokenizer = tokenizer
        switch model {
        case .bert(let bert):
            isDecoder = false
            maxLength = bert.configuration.maxPositions
        case .decoder(let decoder):
            isDecoder = true
            maxLength = decoder.configuration.maxPositions
        }
    }

    /// The prompt the model reads for an example's text (what an answer would follow).
    public func prompt(_ example: TaskExample) throws(ModelRuntimeError) -> [Int32] {
        let ids: [Int32]
        if isDecoder, let words = tokenizer as? WordLevelTokenizer, words.promptTemplate != nil {
            ids = try words.promptIDs(example.text)
        } else {
            ids = tokenizer.encode(example.text)
        }
        return try bounded(ids)
    }

    /// The prompt and, for a decoder and an example with an answer, the answer after it: the whole
    /// sequence a model trained on the task read.
    public func promptAndAnswer(_ example: TaskExample) throws(ModelRuntimeError) -> [Int32] {
        let ids = try prompt(example)
        guard isDecoder, let answer = example.output ?? example.label else { return ids }
        return try bounded(ids + answerTokens(answer))
    }

    /// The tokens of an answer as a decoder was trained to write it after the prompt: its words and,
    /// for the word-level tokenizer, `<eos>` (empty for an encoder, which reads no answers).
    public func answerTokens(_ answer: String) -> [Int32] {
        guard isDecoder else { return [] }
        if let words = tokenizer as? WordLevelTokenizer {
            var ids = words.encode(answer, addingSpecialTokens: false)
            if let end = words.endOfSequenceID { ids.append(end) }
            return ids
        }
        return tokenizer.encode(" " + answer, addingSpecialTokens: false)
    }

    /// Where the text's own tokens stand in its prompt (between BERT's `[CLS]` and `[SEP]`, after a
    /// decoder's `<bos>`, before a template's `=>`): the places a probe may insert words. Found by
    /// encoding the text without special tokens and locating it; when the prompt was cut short or the
    /// tokens do not line up, everything after the first token and before the last.
    public func contentRange(of prompt: [Int32], text: String) -> Range<Int> {
        let content = tokenizer.encode(text, addingSpecialTokens: false)
        if !content.isEmpty, content.count <= prompt.count {
            for start in 0...(prompt.count - content.count) where prompt[start] == content[0] {
                if Array(prompt[start..<(start + content.count)]) == content { return start..<(start + content.count) }
            }
        }
        let first = min(1, prompt.count)
        return first..<max(first, prompt.count - 1)
    }

    private func bounded(_ ids: [Int32]) throws(ModelRuntimeError) -> [Int32] {
        guard !ids.isEmpty else {
            throw ModelRuntimeError(.invalidArgument, "an example encodes to no tokens")
        }
        return Array(ids.prefix(maxLength))
    }
}
