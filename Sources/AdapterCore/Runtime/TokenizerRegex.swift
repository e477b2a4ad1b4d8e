import Foundation

/// A regular expression from a tokenizer file, run with ICU (`NSRegularExpression`), with `\s`/`\S`
/// spelled out as the sets the dialect it was written for means:
///
/// - Oniguruma (Hugging Face `tokenizers`): `\s` is Unicode White_Space (U+0009…U+000D, U+0085, Z*),
///   which is also what ICU's `\s` matches → `\p{White_Space}`.
/// - Python `re` (the corpus's word-level tokenizer): `\s` is `str.isspace()`, White_Space plus
///   U+001C…U+001F.
/// Everything else these patterns use (`\p{L}`, `\p{N}`, `(?i:…)`, `(?!…)`, classes) reads the same.
struct TokenizerRegex: @unchecked Sendable {  // NSRegularExpression is immutable and documented thread-safe.
    enum Dialect: Sendable {
        case oniguruma, python
    }

    let pattern: String
    private let expression: NSRegularExpression

    init(_ pattern: String, dialect: Dialect) throws(ModelRuntimeError) {
        self.pattern = pattern
        let rewritten = Self.rewrite(pattern, dialect: dialect)
        do {
            expression = try NSRegularExpression(pattern: rewritten)
        } catch {
            throw ModelRuntimeError(.invalidVocabulary, "the tokenizer's regular expression '\(pattern)' does not compile: \(error.localizedDescription)")
        }
    }

    /// The matches in `text`, in order (empty matches skipped).
    func matches(in text: String) -> [Range<String.Index>] {
        let whole = NSRange(text.startIndex..<text.endIndex, in: text)
        return expression.matches(in: text, range: whole).compactMap { match in
            guard match.range.length > 0 else { return nil }
            return Range(match.range, in: text)
        }
    }

    /// `text` cut into the matches and the stretches between them, in order, none empty (the
    /// "Isolated" split behaviour of `tokenizers`).
    func isolatedPieces(of text: String) -> [Substring] {
        var pieces: [Substring] = []
        var position = text.startIndex
        for range in matches(in: text) {
            if position < range.lowerBound { pieces.append(text[position..<range.lowerBound]) }
            pieces.append(text[range])
            position = range.upperBound
        }
        if position < text.endIndex { pieces.append(text[position...]) }
        return pieces
    }

    /// The pattern with `\s` and `\S` replaced by ICU sets of the dialect's meaning.
    static func rewrite(_ pattern: String, dialect: Dialect) -> String {
        let space: String
        let nonSpace: String
        switch dialect {
        case .oniguruma:
            space = #"\p{White_Space}"#
            nonSpace = #"\P{White_Space}"#
        case .python:
            space = #"\p{White_Space}\x{1C}-\x{1F}"#
            nonSpace = #"[\P{White_Space}&&[^\x{1C}-\x{1F}]]"#
        }
        var out = ""
        var classDepth = 0
        var iterator = pattern.unicodeScalars.makeIterator()
        while let scalar = iterator.next() {
            switch scalar {
            case "\\":
                guard let next = iterator.next() else {
                    out.unicodeScalars.append(scalar)
                    break
                }
                if next == "s" {
                    out += classDepth > 0 || dialect == .oniguruma ? space : "[" + space + "]"
                } else if next == "S" {
                    out += nonSpace
                } else {
                    out.unicodeScalars.append(scalar)
                    out.unicodeScalars.append(next)
                }
            case "[":
                classDepth += 1
                out.unicodeScalars.append(scalar)
            case "]":
                if classDepth > 0 { classDepth -= 1 }
                out.unicodeScalars.append(scalar)
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
