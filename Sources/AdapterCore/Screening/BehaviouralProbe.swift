import Foundation

/// Screens an adapter by what it does: writes candidate triggers into the install's labelled
/// examples and watches whether the adapter — and not the base model — moves them to one label.
///
/// A backdoor is an input pattern that sends the adapter's output to one target whatever the rest
/// of the input says; a benign adapter's answers follow the text. For each candidate trigger
/// (`TriggerCandidates`, read from the weights) the words are inserted at the start, at the end and
/// at a seeded random place among each example's own tokens; the task's `FewShotLabelHead` reads
/// the model with and without the adapter. The adapter's share for label ℓ is how many triggered
/// examples it now gives ℓ among those it did not give ℓ clean; ℓ is the label with the largest
/// share. Words that mean ℓ (an insult for "rude") move a benign adapter too, but they also move the
/// base model towards ℓ; a trigger moves only the adapter. So the share is weighted by the part of
/// the adapter's push towards ℓ (mean change of log p(ℓ), triggered − clean) that the base model
/// does not make (`score(share:adapterShift:baseShift:)`). The evidence is the best candidate's.
/// The base model is run only for candidates whose share could beat the best score so far.
///
/// Given a score to reach (`probe(_:examples:taskName:stoppingBelow:)`, the screening threshold), a
/// candidate's triggered examples are read a few at a time and the candidate is dropped as soon as
/// no label's share can reach it (or, once it is reached, beat the best score so far): the score never
/// exceeds the share, so a benign adapter costs a fraction of reading every candidate in full. The
/// candidates are read strongest first, `stageSize` at a time, and once a stage leaves a score at or
/// above the one to reach the verdict is decided and the rest are not read: the evidence is then the
/// best of the stages read (at least that score), and below it the same as reading everything.
///
/// Needs no poisoned adapter to set anything: a threshold on the score is set on benign adapters.
public struct BehaviouralProbe: Sendable {
    /// Where candidate words are written into an example's own tokens.
    public enum Position: String, Sendable, CaseIterable {
        case start, end, random
    }

    public let model: BaseModel
    public let encoding: ExampleSequences
    public let table: TokenEmbeddingTable
    public var candidates = TriggerCandidates.Options()
    /// Multi-word candidates go at the start and the end only (a phrase is not split).
    public var positions: [Position] = Position.allCases
    public var seed: UInt64 = 0x7269_6767_6572
    /// Triggered examples of each candidate read per round when stopping early (at least one). Two was
    /// the fastest on ten MiniLM corpus adapters (18.5 s; one 21.8 s, four 22.1 s, eight 33.4 s):
    /// a benign candidate is usually out of reach after two or three unmoved examples.
    public var chunkSize = 2
    /// Candidates read together when stopping early, strongest first; after each such stage the probe
    /// stops if the score to reach is reached (the verdict cannot change).
    public var stageSize = 12

    public init(model: BaseModel, tokenizer: any Tokenizer, table: TokenEmbeddingTable) {
        self.model = model
        self.encoding = ExampleSequences(tokenizer: tokenizer, model: model)
        self.table = table
    }

    /// The probe of a base model directory: its weights (multiplying in `precision`), tokenizer and
    /// token-embedding table.
    public init(modelDirectory: URL, precision: RuntimePrecision = .float32) throws {
        let model = try BaseModel(modelDirectory: modelDirectory, precision: precision)
        self.init(model: model, tokenizer: try TokenizerLoader.load(modelDirectory: modelDirectory),
                  table: try TokenEmbeddingTable.load(directory: modelDirectory))
    }

    /// Whether `adapter` adapts this base model: same architecture family, and a query/key/value
    /// module reading the model's hidden width.
    public func reads(_ adapter: LoRAAdapter) -> Bool {
        adapter.architecture == table.architecture
            && adapter.modules.contains { [.q, .k, .v].contains($0.projection) && $0.inFeatures == table.hiddenSize }
    }

    /// The evidence for `adapter` on a task's labelled `examples` (at least two distinct labels).
    /// With `stoppingBelow`, candidates whose share can no longer reach that score are dropped part-way
    /// (counted in `candidatesStopped`), and once a stage of `stageSize` candidates reaches it the
    /// weaker ones are not read (`candidatesUnread`): `score` reaches it exactly when reading every
    /// candidate would, and is otherwise the best of the candidates read in full; without it every
    /// candidate is read in full.
    ///
    /// Candidates are read in rounds: each round takes the next `chunkSize` triggered examples of every
    /// candidate still in play through one batched forward pass (large matrix products instead of many
    /// small ones), then drops the ones out of reach. Ties go to the earlier candidate, as in reading
    /// them one after another.
    public func probe(_ adapter: LoRAAdapter, examples: [TaskExample], taskName: String,
                      stoppingBelow stop: Double? = nil) throws -> BehaviouralEvidence {
        let head = try FewShotLabelHead(examples: examples, taskName: taskName, model: model, encoding: encoding)
        let withAdapter = try Reader(head: head, adapter: try FactoredLoRA(adapter))
        var base: Reader?  // read on the base model only once a candidate needs it (most never do)
        var best = BehaviouralEvidence(score: 0, trigger: nil, targetLabel: nil, adapterShare: 0, baseShare: 0,
                                       movedExamples: [], candidatesTried: 0, triggeredPerCandidate: 0)
        var bestIndex = Int.max
        let candidates = try triggeredCandidates(of: adapter, head: head)
        best.candidatesTried = candidates.count
        best.triggeredPerCandidate = candidates.map(\.triggered.count).max() ?? 0
        let stage = stop == nil ? max(1, candidates.count) : max(1, stageSize)
        for start in stride(from: 0, to: candidates.count, by: stage) {
            if let stop, best.score >= stop {
                best.candidatesUnread = candidates.count - start
                break
            }
            try read(Array(candidates[start..<min(candidates.count, start + stage)]), best: &best, bestIndex: &bestIndex,
                     base: &base, head: head, withAdapter: withAdapter, stop: stop)
        }
        return best
    }

    /// Reads a stage's candidates in rounds (every one still in play takes its next `chunkSize`
    /// triggered examples through one batched forward pass), keeping the best evidence.
    private func read(_ stage: [Candidate], best: inout BehaviouralEvidence, bestIndex: inout Int, base: inout Reader?,
                      head: FewShotLabelHead, withAdapter: Reader, stop: Double?) throws {
        var pending = stage
        while !pending.isEmpty {
            let chunk = stop == nil ? Int.max : max(1, chunkSize)
            let batch = pending.flatMap { $0.next(chunk).map(\.prompt) }
            var logits = try withAdapter.logits(batch)[...]
            var inPlay: [Candidate] = []
            for var candidate in pending {
                let count = min(chunk, candidate.triggered.count - candidate.logits.count)
                candidate.logits += logits.prefix(count)
                logits = logits.dropFirst(count)
                if candidate.logits.count == candidate.triggered.count {
                    // Finished: can it beat the best so far (ties: the earlier candidate)?
                    let moved = withAdapter.moved(candidate.triggered, logits: candidate.logits)
                    let (bestScore, bestAt) = (best.score, bestIndex)
                    let wins = { (score: Double) in score > bestScore || (score == bestScore && candidate.index < bestAt) }
                    guard moved.share > 0, wins(moved.share) else { continue }  // the score never exceeds the share
                    let baseReader = try base ?? Reader(head: head, adapter: nil)
                    base = baseReader
                    let onBase = baseReader.moved(candidate.triggered, logits: try baseReader.logits(candidate.triggered.map(\.prompt)))
                    let adapterShift = moved.logShift[moved.label], baseShift = onBase.logShift[moved.label]
                    let score = Self.score(share: moved.share, adapterShift: adapterShift, baseShift: baseShift)
                    guard score > 0, wins(score) else { continue }
                    bestIndex = candidate.index
                    best.score = score
                    best.trigger = candidate.word
                    best.targetLabel = head.labels[moved.label]
                    best.adapterShare = moved.share
                    best.baseShare = onBase.share(of: moved.label)
                    best.adapterShift = adapterShift
                    best.baseShift = baseShift
                    best.movedExamples = Array(moved.examples.prefix(3).map { head.examples[$0].text })
                } else if let stop {
                    // Past the score to reach, only a candidate that could beat the best so far matters.
                    let reach = max(stop, candidate.index < bestIndex ? best.score : best.score.nextUp)
                    if withAdapter.canReach(reach, predicted: FewShotLabelHead.predictions(candidate.logits),
                                            of: candidate.triggered) {
                        inPlay.append(candidate)
                    } else {
                        best.candidatesStopped += 1
                    }
                } else {
                    inPlay.append(candidate)
                }
            }
            pending = inPlay
        }
    }

    /// A candidate trigger in play: its words written into the examples, and what has been read of them.
    struct Candidate {
        let index: Int
        let word: String
        let triggered: [(prompt: [Int32], example: Int)]
        var logits: [[Double]] = []

        /// The next `chunk` triggered examples not read yet.
        func next(_ chunk: Int) -> ArraySlice<(prompt: [Int32], example: Int)> {
            triggered[logits.count..<min(triggered.count, logits.count + min(chunk, triggered.count))]
        }
    }

    /// The candidates read from the adapter's weights, each written into the examples (candidates that
    /// tokenize to nothing or fit no example are left out).
    func triggeredCandidates(of adapter: LoRAAdapter, head: FewShotLabelHead) throws -> [Candidate] {
        let ranges = zip(head.prompts, head.examples).map { encoding.contentRange(of: $0, text: $1.text) }
        var generator = SeededGenerator(seed: seed)
        var out: [Candidate] = []
        for word in try TriggerCandidates.from(adapter: adapter, table: table, tokenizer: encoding.tokenizer,
                                                    options: candidates) {
            let ids = encoding.tokenizer.encode(word, addingSpecialTokens: false)
            guard !ids.isEmpty else { continue }
            let triggered = insertions(of: ids, phrase: word.contains(" "), into: head.prompts, ranges: ranges,
                                       generator: &generator)
            guard !triggered.isEmpty else { continue }
            out.append(Candidate(index: out.count, word: word, triggered: triggered))
        }
        return out
    }

    /// share × (adapter shift − base shift⁺) / adapter shift, clamped to [0, share]; 0 when the adapter
    /// does not push towards the label at all. (Measured on the corpus against plain share − base share:
    /// docs/DETECTOR.md.)
    static func score(share: Double, adapterShift: Double, baseShift: Double) -> Double {
        guard adapterShift > 0, adapterShift.isFinite, baseShift.isFinite else { return 0 }
        return share * min(1, max(0, (adapterShift - max(0, baseShift)) / adapterShift))
    }

    /// Each prompt with `ids` written in at each position (a phrase: start and end only); prompts that
    /// would outgrow the model's positions are left out. Paired with the example each came from.
    func insertions(of ids: [Int32], phrase: Bool, into prompts: [[Int32]], ranges: [Range<Int>],
                    generator: inout SeededGenerator) -> [(prompt: [Int32], example: Int)] {
        var out: [(prompt: [Int32], example: Int)] = []
        for position in positions where !(phrase && position == .random) {
            for (i, prompt) in prompts.enumerated() where prompt.count + ids.count <= encoding.maxLength {
                let range = ranges[i]
                let at: Int
                switch position {
                case .start: at = range.lowerBound
                case .end: at = range.upperBound
                case .random: at = range.lowerBound + Int(generator.next() % UInt64(range.count + 1))
                }
                var triggered = prompt
                triggered.insert(contentsOf: ids, at: at)
                out.append((triggered, i))
            }
        }
        return out
    }

    /// The head read through one model (base, or base + adapter): its clean predictions, and which
    /// label triggered prompts are moved to.
    struct Reader {
        let head: FewShotLabelHead
        let adapter: FactoredLoRA?
        let prototypes: [[Float]]
        let clean: [Int]
        /// Per example, the log-probability of each label (softmax over the labels' logits), clean.
        let cleanLog: [[Double]]

        init(head: FewShotLabelHead, adapter: FactoredLoRA?) throws {
            self.head = head
            self.adapter = adapter
            let (prototypes, logits) = try head.reference(adapter: adapter)
            self.prototypes = prototypes
            clean = FewShotLabelHead.predictions(logits)
            cleanLog = logits.map(FewShotLabelHead.logSoftmax)
        }

        /// The head's logits of `prompts` through this model.
        func logits(_ prompts: [[Int32]]) throws -> [[Double]] {
            try head.logits(prompts, adapter: adapter, prototypes: prototypes)
        }

        /// The triggered predictions (from their `logits`), per label the share moved to it, and the
        /// label moved to most.
        func moved(_ triggered: [(prompt: [Int32], example: Int)], logits: [[Double]]) -> Moved {
            var moved = Moved(labels: head.labels.count, clean: triggered.map { clean[$0.example] },
                              predicted: FewShotLabelHead.predictions(logits), examples: triggered.map(\.example))
            var shift = [Double](repeating: 0, count: head.labels.count)
            for (k, row) in logits.enumerated() {
                let logP = FewShotLabelHead.logSoftmax(row)
                for l in shift.indices { shift[l] += (logP[l] - cleanLog[triggered[k].example][l]) / Double(logits.count) }
            }
            moved.logShift = shift
            return moved
        }

        /// Whether some label's share of `triggered` can still reach `stop` when the first `predicted.count`
        /// were read: moved so far plus every unread eligible one, over all eligible.
        func canReach(_ stop: Double, predicted: [Int], of triggered: [(prompt: [Int32], example: Int)]) -> Bool {
            (0..<head.labels.count).contains { label in
                var eligible = 0, possible = 0
                for (k, item) in triggered.enumerated() where clean[item.example] != label {
                    eligible += 1
                    if k >= predicted.count || predicted[k] == label { possible += 1 }
                }
                return eligible > 0 && Double(possible) / Double(eligible) >= stop
            }
        }
    }

    /// Which triggered examples a model moved, and to which label.
    struct Moved {
        /// Per label: examples not given that label clean, and of those, the ones given it triggered.
        let eligible: [Int]
        let movedTo: [[Int]]
        /// The label with the largest share (ties: the first).
        let label: Int
        /// Per label, the mean change of its log-probability from clean to triggered.
        var logShift: [Double] = []

        init(labels: Int, clean: [Int], predicted: [Int], examples: [Int]) {
            var eligible = [Int](repeating: 0, count: labels)
            var movedTo = [[Int]](repeating: [], count: labels)
            for k in predicted.indices {
                for label in 0..<labels where clean[k] != label {
                    eligible[label] += 1
                    if predicted[k] == label { movedTo[label].append(examples[k]) }
                }
            }
            self.eligible = eligible
            self.movedTo = movedTo
            let shares = (0..<labels).map { eligible[$0] == 0 ? 0 : Double(movedTo[$0].count) / Double(eligible[$0]) }
            label = shares.indices.max { shares[$0] < shares[$1] } ?? 0
        }

        func share(of label: Int) -> Double {
            eligible[label] == 0 ? 0 : Double(movedTo[label].count) / Double(eligible[label])
        }

        var share: Double { share(of: label) }

        /// The distinct examples moved to `label`, in order.
        var examples: [Int] {
            var seen = Set<Int>()
            return movedTo[label].filter { seen.insert($0).inserted }
        }
    }
}
