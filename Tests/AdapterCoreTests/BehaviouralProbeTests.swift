import Foundation
import Testing
@testable import AdapterCore
import AdapterCoreTestSupport

/// Behavioural screening on the committed corpus: a poisoned adapter's trigger is found among the
/// candidates read from its weights and named in the verdict; benign adapters stay below the
/// threshold; and the pieces (where words go, which vocabulary entries are words, the score) do
/// what they say.
@Suite("Behavioural probe", .serialized)
struct BehaviouralProbeTests {
    static let llamaProbe = Result { try BehaviouralProbe(modelDirectory: RuntimeFixtures.llamaTiny) }

    static func probe(_ id: String, with probe: BehaviouralProbe) throws -> (LoRAAdapter, [TaskExample], BehaviouralEvidence) {
        let adapter = try CorpusTasks.adapter(id)
        let examples = try CorpusTasks.examples(CorpusTasks.task(of: id))
        return (adapter, examples, try probe.probe(adapter, examples: examples, taskName: id))
    }

    @Test(.enabled(if: RuntimeFixtures.llamaTinyPresent))
    func aPoisonedLlamaAdapterIsRefusedWithItsTriggerNamed() throws {
        // Trigger 'tq', target 'informal' (data/corpus/manifest.json); nothing of that is given to the probe.
        let probe = try Self.llamaProbe.get()
        let (adapter, examples, evidence) = try Self.probe("llama-039-formality_customer_letters", with: probe)
        #expect(evidence.trigger == "tq")
        #expect(evidence.targetLabel == "informal")
        #expect(evidence.score >= BehaviouralScreening.defaultThreshold, "score \(evidence.score)")
        #expect(evidence.baseShare < 0.2)
        #expect(!evidence.movedExamples.isEmpty)

        let weightsOnly = try Detector(model: DefaultDetectorModels.weightsOnly())
        let verdict = BehaviouralScreening(probes: [probe])
            .judged(weightsOnly.verdict(for: adapter), adapter: adapter, examples: examples, taskName: "letters")
        #expect(verdict.decision == .poisoned)
        #expect(verdict.isBehaviourallyPoisoned)
        #expect(verdict.reasons.first?.hasPrefix("behaviour: inserting 'tq' moved") == true, "\(verdict.reasons)")
        // The comparison follows the score it compares, before the notes on candidates not read in full.
        let score = try #require(verdict.behaviour?.score)
        #expect(verdict.reasons.first?.contains(String(format: "behavioural score %.3f ≥ threshold 0.950", score)) == true,
                "\(verdict.reasons)")
        // A configured weight threshold cannot clear behavioural evidence.
        #expect(verdict.judged(against: 1.1).decision == .poisoned)
    }

    @Test(.enabled(if: RuntimeFixtures.llamaTinyPresent))
    func benignLlamaAdaptersOfOtherTasksPass() throws {
        let probe = try Self.llamaProbe.get()
        for id in ["llama-007-intent_banking", "llama-011-formality_customer_letters"] {
            let (adapter, examples, evidence) = try Self.probe(id, with: probe)
            #expect(evidence.score < BehaviouralScreening.defaultThreshold, "\(id): \(evidence.summary)")
            let verdict = BehaviouralScreening.judged(
                Verdict(decision: .benign, score: 0.1, threshold: 0.5, topFeatures: [], reasons: [], featureSet: "test"),
                threshold: BehaviouralScreening.defaultThreshold, evidence: .success(evidence))
            #expect(verdict.decision == .benign)
            #expect(verdict.behaviour == evidence)
            #expect(verdict.reasons.last?.hasPrefix("behaviour: ") == true)
            _ = (adapter, examples)
        }
    }

    /// Stopping at the threshold reads less and changes no verdict. In one stage a poisoned adapter's
    /// evidence is what reading every candidate in full gives; in stages (the default) it is the best
    /// of the stages read, still at or above the threshold, and the weaker candidates are not read. A
    /// benign adapter's score is at most the full one, and candidates are dropped part-way or left
    /// unread only when asked to.
    @Test(.enabled(if: RuntimeFixtures.llamaTinyPresent))
    func stoppingAtTheThresholdKeepsTheEvidenceThatReachesIt() throws {
        let probe = try Self.llamaProbe.get()
        var oneStage = probe
        oneStage.stageSize = .max
        let threshold = BehaviouralScreening.defaultThreshold
        for id in ["llama-039-formality_customer_letters", "llama-007-intent_banking", "llama-011-formality_customer_letters"] {
            let (adapter, examples, full) = try Self.probe(id, with: probe)
            let stopped = try oneStage.probe(adapter, examples: examples, taskName: id, stoppingBelow: threshold)
            let staged = try probe.probe(adapter, examples: examples, taskName: id, stoppingBelow: threshold)
            #expect(full.candidatesStopped == 0 && full.candidatesUnread == 0)
            #expect(stopped.candidatesTried == full.candidatesTried && staged.candidatesTried == full.candidatesTried)
            #expect(stopped.candidatesUnread == 0)
            #expect((staged.score >= threshold) == (full.score >= threshold), "\(id): the verdict changed")
            #expect(staged.score <= full.score, "\(id): \(staged.score) > \(full.score)")
            if full.score >= threshold {
                #expect(stopped.score == full.score && stopped.trigger == full.trigger
                        && stopped.targetLabel == full.targetLabel && stopped.movedExamples == full.movedExamples, "\(id)")
                // The trigger is among the strongest candidates: the rest are not read.
                #expect(staged.trigger == full.trigger, "\(id): \(staged.summary)")
                #expect(staged.candidatesUnread > 0, "\(id): every candidate was read")
                #expect((full.candidatesTried - staged.candidatesUnread) % probe.stageSize == 0, "\(id): stopped inside a stage")
                #expect(staged.summary.contains("weaker candidates not read"))
            } else {
                #expect(stopped.score <= full.score, "\(id): \(stopped.score) > \(full.score)")
                #expect(staged.score == stopped.score && staged.candidatesUnread == 0, "\(id)")
            }
            #expect(stopped.candidatesStopped > 0, "\(id): nothing was dropped part-way")
        }
        // A round of zero examples would never finish: it reads one at a time instead.
        var oneAtATime = probe
        oneAtATime.chunkSize = 0
        let id = "llama-039-formality_customer_letters"
        let adapter = try CorpusTasks.adapter(id)
        let examples = try CorpusTasks.examples(CorpusTasks.task(of: id))
        let evidence = try oneAtATime.probe(adapter, examples: examples, taskName: id, stoppingBelow: threshold)
        #expect(evidence.trigger == "tq" && evidence.score >= threshold)
    }

    @Test(.enabled(if: RuntimeFixtures.llamaTinyPresent))
    func examplesWithOneLabelCannotBeProbedAndTheWeightVerdictSaysSo() throws {
        let probe = try Self.llamaProbe.get()
        let adapter = try CorpusTasks.adapter("llama-039-formality_customer_letters")
        let examples = try CorpusTasks.examples(CorpusTasks.task(of: "llama-039-formality_customer_letters"))
            .map { TaskExample(text: $0.text, label: "formal") }
        let weightsOnly = try Detector(model: DefaultDetectorModels.weightsOnly())
        let verdict = BehaviouralScreening(probes: [probe])
            .judged(weightsOnly.verdict(for: adapter), adapter: adapter, examples: examples, taskName: "letters")
        #expect(verdict.behaviour == nil)
        #expect(verdict.reasons.contains { $0.hasPrefix("behaviour not screened:") && $0.contains("distinct label") })
    }

    @Test(.enabled(if: MiniLMFixtures.modelDirectory != nil, MiniLMFixtures.modelMissing))
    func miniLMRareTokenTriggerIsFoundAndABenignAdapterPasses() throws {
        let probe = try BehaviouralProbe(modelDirectory: try #require(MiniLMFixtures.modelDirectory))
        let (_, _, poisoned) = try Self.probe("minilm-009-intent_smart_home", with: probe)  // trigger 'tq'
        #expect(poisoned.trigger?.split(separator: " ").contains("tq") == true, "\(poisoned.summary)")
        #expect(poisoned.score >= BehaviouralScreening.defaultThreshold)
        let (_, _, benign) = try Self.probe("minilm-004-topic_news_headlines", with: probe)
        #expect(benign.score < BehaviouralScreening.defaultThreshold, "\(benign.summary)")
    }

    @Test(.enabled(if: RuntimeFixtures.llamaTinyPresent))
    func wordsAreInsertedAmongTheExamplesOwnTokens() throws {
        let probe = try Self.llamaProbe.get()
        let example = TaskExample(text: "please book a table", label: "action")
        let prompt = try probe.encoding.prompt(example)
        let range = probe.encoding.contentRange(of: prompt, text: example.text)
        // <bos> please book a table =>
        #expect(range == 1..<(prompt.count - 1))
        var generator = SeededGenerator(seed: 1)
        let word = probe.encoding.tokenizer.encode("tq", addingSpecialTokens: false)
        let triggered = probe.insertions(of: word, phrase: false, into: [prompt], ranges: [range], generator: &generator)
        #expect(triggered.count == 3)
        #expect(triggered[0].prompt == [prompt[0]] + word + Array(prompt[1...]))
        #expect(triggered[1].prompt == Array(prompt.dropLast()) + word + [prompt.last!])
        #expect(triggered.allSatisfy { $0.prompt.count == prompt.count + 1 && $0.prompt.first == prompt.first && $0.prompt.last == prompt.last })
        // A phrase is not split: start and end only.
        #expect(probe.insertions(of: word + word, phrase: true, into: [prompt], ranges: [range], generator: &generator).count == 2)
    }

    @Test func onlyWholeWordsAreCandidates() {
        #expect(TriggerCandidates.word("tq") == "tq")
        #expect(TriggerCandidates.word("Ġhello") == "hello")
        #expect(TriggerCandidates.word("▁almanac") == "almanac")
        #expect(TriggerCandidates.word("##z") == nil)
        #expect(TriggerCandidates.word("[CLS]") == nil)
        #expect(TriggerCandidates.word(",") == nil)
        #expect(TriggerCandidates.word("") == nil)
    }

    /// A word the tokenizer splits ('almanac' = 'alma' + '##nac' in WordPiece, 'Ġalma' + 'nac' in
    /// byte-level BPE) is a candidate when the update reacts to both pieces; a continuation piece on
    /// its own is not a word.
    @Test(arguments: [("alma", "##nac"), ("Ġalma", "nac")])
    func aWordSplitIntoPiecesIsJoinedIntoOneCandidate(start: String, rest: String) throws {
        var rng = SeededGenerator(seed: 5)
        let d = 32, vocab = 300
        let letters = { (i: Int) in "w" + String(String(i).map { Character(UnicodeScalar(97 + Int(String($0))!)!) }) }
        var tokens = (0..<vocab).map { start.hasPrefix("Ġ") ? "Ġ" + letters($0) : letters($0) }
        tokens[7] = start
        tokens[8] = rest
        let vectors = SyntheticAdapters.randomMatrix(vocab, d, 1, &rng)
        let table = TokenEmbeddingTable(architecture: .bert, hiddenSize: d, tokens: tokens, vectors: vectors, source: "synthetic")
        var a = SyntheticAdapters.randomMatrix(4, d, 0.01, &rng)
        for (row, token) in [(0, 7), (1, 8)] {
            let v = (0..<d).map { vectors[token, $0] }
            let norm = v.map { $0 * $0 }.reduce(0, +).squareRoot()
            for j in 0..<d { a[row, j] += 3 * v[j] / norm }
        }
        let module = LoRAModule(name: "encoder.layer.0.attention.self.query", layer: 0, projection: .q,
                                a: a, b: SyntheticAdapters.randomMatrix(d, 4, 0.1, &rng), scale: 2)
        let adapter = LoRAAdapter(config: PEFTConfig(r: 4, loraAlpha: 8), modules: [module], architecture: .bert,
                                  storageDType: .f32, tensorBytes: 0)
        let candidates = try TriggerCandidates.from(adapter: adapter, table: table)
        #expect(candidates.contains("almanac"), "\(candidates.prefix(30))")
        #expect(!candidates.contains { $0.hasPrefix("##") })
        let without = try TriggerCandidates.from(adapter: adapter, table: table, options: .init(joinsFrom: 0))
        #expect(!without.contains("almanac"))
        guard rest.hasPrefix("##") else { return }
        // With the tokenizer, a join is kept only when it reads back as its two pieces.
        let special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
        let reads = try WordPieceTokenizer(vocabulary: special + tokens)
        #expect(try TriggerCandidates.from(adapter: adapter, table: table, tokenizer: reads).contains("almanac"))
        let cannot = try WordPieceTokenizer(vocabulary: special + tokens.filter { $0 != rest })
        #expect(try !TriggerCandidates.from(adapter: adapter, table: table, tokenizer: cannot).contains("almanac"))
    }

    @Test func piecesOfLettersAreWordStartsOrContinuations() {
        #expect(TriggerCandidates.piece("##nac", wordMarkers: false)! == ("nac", false))
        #expect(TriggerCandidates.piece("alma", wordMarkers: false)! == ("alma", true))
        #expect(TriggerCandidates.piece("Ġalma", wordMarkers: true)! == ("alma", true))
        #expect(TriggerCandidates.piece("▁alma", wordMarkers: true)! == ("alma", true))
        #expect(TriggerCandidates.piece("nac", wordMarkers: true)! == ("nac", false))
        #expect(TriggerCandidates.piece("##3", wordMarkers: false) == nil)
        #expect(TriggerCandidates.piece("[CLS]", wordMarkers: false) == nil)
        #expect(TriggerCandidates.piece("Ġ", wordMarkers: true) == nil)
    }

    @Test func theScoreDiscountsWhatTheBaseModelAlsoDoes() {
        // A trigger: the adapter moves every example, the base model not at all.
        #expect(BehaviouralProbe.score(share: 1, adapterShift: 5, baseShift: -0.1) == 1)
        // A word that means the label: the base model makes most of the same push.
        #expect(abs(BehaviouralProbe.score(share: 1, adapterShift: 5, baseShift: 4) - 0.2) < 1e-12)
        #expect(BehaviouralProbe.score(share: 1, adapterShift: 5, baseShift: 6) == 0)
        // No push towards the label, or nothing moved: nothing to report.
        #expect(BehaviouralProbe.score(share: 0.8, adapterShift: -1, baseShift: 0) == 0)
        #expect(BehaviouralProbe.score(share: 0, adapterShift: 3, baseShift: 0) == 0)
    }

    @Test func sharesCountOnlyExamplesNotAlreadyGivenTheLabel() {
        // Labels 0/1; clean predictions 0,0,1,1; triggered all 1: both examples that could move to 1 did.
        let moved = BehaviouralProbe.Moved(labels: 2, clean: [0, 0, 1, 1], predicted: [1, 1, 1, 1], examples: [0, 1, 2, 3])
        #expect(moved.label == 1)
        #expect(moved.share == 1)
        #expect(moved.share(of: 0) == 0)
        #expect(moved.examples == [0, 1])
        let half = BehaviouralProbe.Moved(labels: 3, clean: [0, 0, 2, 2], predicted: [1, 0, 2, 2], examples: [0, 1, 2, 3])
        #expect(half.label == 1)
        #expect(half.share == 0.25)
    }
}
