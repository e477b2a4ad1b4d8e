/// Sequences of token ids packed one after another without padding: the dense layers run on all
/// tokens at once, attention on each sequence's own rows. Construction checks every sequence.
struct PackedBatch: Sendable {
    /// The first row of each sequence.
    let offsets: [Int]
    let lengths: [Int]
    let tokenCount: Int
    let longest: Int

    /// Refuses an empty sequence, one longer than `maxLength`, and ids outside `0..<vocabularySize`.
    init(_ sequences: [[Int32]], vocabularySize: Int, maxLength: Int) throws(ModelRuntimeError) {
        var offsets: [Int] = []
        offsets.reserveCapacity(sequences.count)
        var tokens = 0
        var longest = 0
        for (index, sequence) in sequences.enumerated() {
            guard !sequence.isEmpty, sequence.count <= maxLength else {
                throw ModelRuntimeError(.invalidArgument,
                    "sequence \(index) has \(sequence.count) tokens; the model takes 1 to \(maxLength)")
            }
            if let bad = sequence.first(where: { $0 < 0 || Int($0) >= vocabularySize }) {
                throw ModelRuntimeError(.invalidArgument,
                    "sequence \(index) has token id \(bad), outside the vocabulary of \(vocabularySize)")
            }
            offsets.append(tokens)
            tokens += sequence.count
            longest = max(longest, sequence.count)
        }
        self.offsets = offsets
        self.lengths = sequences.map(\.count)
        self.tokenCount = tokens
        self.longest = longest
    }

    var count: Int { offsets.count }
}
