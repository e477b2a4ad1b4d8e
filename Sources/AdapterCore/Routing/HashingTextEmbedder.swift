#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A dependency-free text embedder: feature hashing of word unigrams, word bigrams and character
/// n-grams (3 to 5 characters of each word with boundary marks, "<word>"), each feature weighted
/// by a sublinear term frequency 1 + ln(tf) and by its kind, hashed (64-bit FNV-1a, with a sign bit
/// to cancel collisions on average) into `dimension` buckets, then L2-normalised.
///
/// Deterministic across runs and machines (no seeded `Hasher`). Text is lower-cased and split on
/// anything that is not a letter or digit. Character n-grams make it robust to inflections and
/// typos; bigrams add a little word order.
public struct HashingTextEmbedder: TextEmbedder {
    public let dimension: Int
    /// Weight of a word unigram, word bigram and character n-gram feature.
    public let wordWeight: Double
    public let bigramWeight: Double
    public let characterWeight: Double
    public let characterGrams: ClosedRange<Int>

    public var name: String { "hashing-\(dimension)" }

    public init(dimension: Int = 2048, wordWeight: Double = 1, bigramWeight: Double = 0.7,
                characterWeight: Double = 0.35, characterGrams: ClosedRange<Int> = 3...5) throws {
        guard dimension >= 16 && dimension <= 1 << 20 else {
            throw RoutingError(.invalidArgument, "the embedding dimension must be between 16 and 1048576")
        }
        guard characterGrams.lowerBound >= 1 else {
            throw RoutingError(.invalidArgument, "character n-grams need n ≥ 1")
        }
        self.dimension = dimension
        self.wordWeight = wordWeight
        self.bigramWeight = bigramWeight
        self.characterWeight = characterWeight
        self.characterGrams = characterGrams
    }

    public func embed(_ text: String) -> [Double] {
        let words = Self.words(of: text)
        var counts: [String: (weight: Double, count: Int)] = [:]
        func add(_ feature: String, _ weight: Double) {
            counts[feature, default: (weight, 0)].count += 1
        }
        for (index, word) in words.enumerated() {
            add("w\u{1}" + word, wordWeight)
            if index > 0 { add("b\u{1}" + words[index - 1] + "\u{1}" + word, bigramWeight) }
            let marked = Array("<" + word + ">")
            for n in characterGrams where n <= marked.count {
                for start in 0...(marked.count - n) { add("c\u{1}" + String(marked[start..<(start + n)]), characterWeight) }
            }
        }
        var vector = [Double](repeating: 0, count: dimension)
        for (feature, entry) in counts {
            let hash = Self.fnv1a(feature)
            let bucket = Int(hash % UInt64(dimension))
            let sign: Double = (hash >> 63) == 0 ? 1 : -1
            vector[bucket] += sign * entry.weight * (1 + log(Double(entry.count)))
        }
        let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
        if norm > 0 { for i in vector.indices { vector[i] /= norm } }
        return vector
    }

    /// Lower-cased runs of letters and digits.
    static func words(of text: String) -> [String] {
        var words: [String] = []
        var current = ""
        for character in text.lowercased() {
            if character.isLetter || character.isNumber {
                current.append(character)
            } else if !current.isEmpty {
                words.append(current)
                current = ""
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }

    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        // Final avalanche so that low bits (the bucket) depend on every byte.
        hash ^= hash >> 33
        hash = hash &* 0xFF51_AFD7_ED55_8CCD
        hash ^= hash >> 33
        return hash
    }
}
