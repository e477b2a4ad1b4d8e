/// Splits normalised text into words the way BERT does: whitespace separates words and is dropped,
/// and every punctuation character becomes a word of its own.
///
/// Punctuation means all ASCII non-alphanumeric printable characters (so `$`, `+`, `^`, `|` … count)
/// plus every Unicode character of a punctuation category (Pc, Pd, Ps, Pe, Pi, Pf, Po).
public enum BertPreTokenizer {
    public static func words(_ scalars: [Unicode.Scalar]) -> [ArraySlice<Unicode.Scalar>] {
        var words: [ArraySlice<Unicode.Scalar>] = []
        var start = scalars.startIndex
        for i in scalars.indices {
            let s = scalars[i]
            if s.properties.isWhitespace || s == "\t" || s == "\n" || s == "\r" {
                if start < i { words.append(scalars[start..<i]) }
                start = i + 1
            } else if isPunctuation(s) {
                if start < i { words.append(scalars[start..<i]) }
                words.append(scalars[i...i])
                start = i + 1
            }
        }
        if start < scalars.endIndex { words.append(scalars[start...]) }
        return words
    }

    public static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 33...47, 58...64, 91...96, 123...126: return true
        case 0..<128: return false
        default: break
        }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }
}
