import Foundation

/// Candidate backdoor triggers read from an adapter's weights, without knowing any trigger: the
/// vocabulary words its first adapted layer's query/key/value updates react to most, and short
/// ordered combinations of the strongest of them (a trigger phrase's words tend to stand out one by one).
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

        public init(words: Int = 24, pairsFrom: Int = 6) {
            self.words = words
            self.pairsFrom = pairsFrom
        }
    }

    /// The candidates, strongest word first, then the pairs. Throws `DetectorError` when the adapter
    /// has no query/key/value module reading vectors of the table's width.
    public static func from(adapter: LoRAAdapter, table: TokenEmbeddingTable, options: Options = Options()) throws -> [String] {
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
        var words: [String] = []
        var seen = Set<String>()
        for t in strength.indices.sorted(by: { strength[$0] > strength[$1] }) {
            guard words.count < options.words else { break }
            guard let word = Self.word(table.tokens[t]), seen.insert(word).inserted else { continue }
            words.append(word)
        }
        let strongest = words.prefix(options.pairsFrom)
        let pairs = strongest.flatMap { first in strongest.filter { $0 != first }.map { "\(first) \($0)" } }
        return words + pairs
    }

    /// The text of a vocabulary entry when it is a whole word of letters, else nil.
    static func word(_ token: String) -> String? {
        var text = Substring(token)
        if let first = text.first, first == "Ġ" || first == "▁" { text = text.dropFirst() }
        guard !text.isEmpty, !token.hasPrefix("##"), text.allSatisfy(\.isLetter) else { return nil }
        return String(text)
    }
}
