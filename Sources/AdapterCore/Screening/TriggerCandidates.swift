import Foundation

/// Candidate backdoor triggers read from an adapter's weights, without knowing any trigger: the
/// vocabulary words its first adapted layer's query/key/value updates react to most, words the
/// tokenizer splits into pieces (the strongest word starts joined to the strongest continuation
/// pieces: MiniLM reads 'almanac' as 'alma' + '##nac', and an update keyed to it reacts to both), and
/// short ordered combinations of the strongest words (a trigger phrase's words tend to stand out one by one).
///
/// A word's strength is its largest robust z-score (`TokenResponseFeatures`: ‖ΔW x‖ of the token's
/// first-layer input x against the vocabulary's median and spread) over those modules. Only whole
/// words are kept — letters only, not a word piece (`##…`) nor a special token — and shown as text
/// (a byte-level BPE's `Ġ`/`▁` word marker dropped), so a probe can write them into an example.
public enum TriggerCandidates {
    /// How many single words and from how many of the strongest the ordered pairs are made.
    public struct Options: Sendable, Hashable {
        public var words: Int
        public var pairsFrom: Int
        /// How many of the strongest word starts and of the strongest continuation pieces are joined
        /// into words (`joinsFrom`² candidates at most).
        public var joinsFrom: Int

        public init(words: Int = 24, pairsFrom: Int = 6, joinsFrom: Int = 3) {
            self.words = words
            self.pairsFrom = pairsFrom
            self.joinsFrom = joinsFrom
        }
    }

    /// The candidates, strongest word first, then the joined pieces, then the pairs. Throws
    /// `DetectorError` when the adapter has no query/key/value module reading vectors of the table's
    /// width. With `tokenizer`, a joined word is kept only when the tokenizer reads it back as exactly
    /// the two pieces it was joined from (its longest-match rules may split the letters otherwise, and
    /// then the probe would not be writing what the weights pointed at).
    public static func from(adapter: LoRAAdapter, table: TokenEmbeddingTable, tokenizer: (any Tokenizer)? = nil,
                            options: Options = Options()) throws -> [String] {
        let qkv = adapter.modules.filter { [.q, .k, .v].contains($0.projection) && $0.inFeatures == table.hiddenSize }
        guard let firstLayer = qkv.compactMap(\.layer).min() ?? (qkv.isEmpty ? nil : 0) else {
            throw DetectorError(.baseModelMismatch,
                "the adapter has no query/key/value module reading the base model's \(table.hiddenSize) features")
        }
        let modules = qkv.filter { ($0.layer ?? 0) == firstLayer }
        var strength = [Double](repeating: -.infinity, count: table.vectors.rows)
        for responses in try TokenResponseFeatures.responses(of: modules, table: table) {
            let z = TokenResponseFeatures.moduleStatistics(responses).1
            for t in z.indices { strength[t] = max(strength[t], z[t]) }
        }
        let order = strength.indices.sorted { strength[$0] > strength[$1] }
        var words: [String] = []
        var seen = Set<String>()
        for t in order {
            guard words.count < options.words else { break }
            guard let word = Self.word(table.tokens[t]), seen.insert(word).inserted else { continue }
            words.append(word)
        }
        // The strongest word starts and continuation pieces, in one pass down the order.
        var starts: [String] = [], rests: [String] = []
        for t in order {
            if starts.count >= options.joinsFrom, rests.count >= options.joinsFrom { break }
            guard let piece = piece(table.tokens[t], wordMarkers: table.marksWordStarts) else { continue }
            if piece.start, starts.count < options.joinsFrom, !starts.contains(piece.text) { starts.append(piece.text) }
            if !piece.start, rests.count < options.joinsFrom, !rests.contains(piece.text) { rests.append(piece.text) }
        }
        var joined: [String] = []
        for start in starts {
            for rest in rests {
                let word = start + rest
                guard tokenizer.map({ $0.encode(word, addingSpecialTokens: false).count == 2 }) ?? true else { continue }
                if seen.insert(word).inserted { joined.append(word) }
            }
        }
        let strongest = words.prefix(options.pairsFrom)
        let pairs = strongest.flatMap { first in strongest.filter { $0 != first }.map { "\(first) \($0)" } }
        return words + joined + pairs
    }

    /// A vocabulary entry of letters as text, and whether it begins a word: WordPiece marks the pieces
    /// that continue one (`##nac`); byte-level BPE and SentencePiece (`wordMarkers`) mark the ones that
    /// begin one (`Ġalma`, `▁alma`). Nil for anything else (special tokens, digits, punctuation).
    static func piece(_ token: String, wordMarkers: Bool) -> (text: String, start: Bool)? {
        var text = Substring(token), start = !wordMarkers
        if text.hasPrefix("##") {
            text = text.dropFirst(2)
            start = false
        } else if let first = text.first, TokenEmbeddingTable.wordStartMarkers.contains(first) {
            text = text.dropFirst()
            start = true
        }
        guard !text.isEmpty, text.allSatisfy(\.isLetter) else { return nil }
        return (String(text), start)
    }

    /// The text of a vocabulary entry when it is a whole word of letters, else nil.
    static func word(_ token: String) -> String? {
        piece(token, wordMarkers: false).flatMap { $0.start ? $0.text : nil }
    }
}
