/// Cuts text at the added tokens of a tokenizer (special tokens such as `<|im_start|>`, written
/// literally in the text), leftmost-longest as the reference library matches them, comparing Unicode
/// scalars exactly. A token with `lstrip`/`rstrip` also takes the whitespace before/after it.
struct AddedTokenSplitter: Sendable {
    enum Segment: Sendable, Equatable {
        case text(String)
        case token(Int32)
    }

    /// Candidate tokens by first scalar, longest first.
    private let tokensByFirstScalar: [UInt32: [TokenizerDefinition.AddedToken]]

    init(_ tokens: [TokenizerDefinition.AddedToken]) {
        var byFirst: [UInt32: [TokenizerDefinition.AddedToken]] = [:]
        for token in tokens {
            byFirst[token.content[0].value, default: []].append(token)
        }
        tokensByFirstScalar = byFirst.mapValues { $0.sorted { $0.content.count > $1.content.count } }
    }

    var isEmpty: Bool { tokensByFirstScalar.isEmpty }

    func split(_ text: String) -> [Segment] {
        guard !tokensByFirstScalar.isEmpty else { return [.text(text)] }
        let scalars = Array(text.unicodeScalars)
        var segments: [Segment] = []
        var pending: [Unicode.Scalar] = []
        var i = 0
        func flush() {
            if !pending.isEmpty {
                var view = String.UnicodeScalarView()
                view.append(contentsOf: pending)
                segments.append(.text(String(view)))
                pending.removeAll()
            }
        }
        while i < scalars.count {
            guard let candidates = tokensByFirstScalar[scalars[i].value],
                  let token = candidates.first(where: { i + $0.content.count <= scalars.count
                      && scalars[i..<(i + $0.content.count)].elementsEqual($0.content) }) else {
                pending.append(scalars[i])
                i += 1
                continue
            }
            if token.stripLeft {
                while let last = pending.last, last.properties.isWhitespace { pending.removeLast() }
            }
            flush()
            segments.append(.token(token.id))
            i += token.content.count
            if token.stripRight {
                while i < scalars.count, scalars[i].properties.isWhitespace { i += 1 }
            }
        }
        flush()
        return segments
    }
}
