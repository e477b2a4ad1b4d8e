import Foundation
import Testing
@testable import AdapterCore

/// Corpus tasks (adapter + few examples) for the data-aware tests.
enum CorpusTasks {
    static let root = RuntimeFixtures.packageRoot.appendingPathComponent("data/corpus")

    static func adapter(_ id: String) throws -> LoRAAdapter {
        try PEFTAdapterLoader.load(directory: root.appendingPathComponent("adapters/\(id)"))
    }

    static func examples(_ task: String) throws -> [TaskExample] {
        try ExamplesFile.load(contentsOf: root.appendingPathComponent("tasks/\(task)/few.jsonl"))
    }

    /// The task of a corpus adapter id (`llama-003-sentiment_tweets` → `sentiment_tweets`).
    static func task(of id: String) -> String { id.split(separator: "-", maxSplits: 2).map(String.init)[2] }

    static func profile(_ id: String) throws -> TaskProfile {
        let examples = try examples(task(of: id))
        return TaskProfile(name: id, version: 1, adapter: try adapter(id), examples: examples.map(\.text))
    }
}

/// Records every observation (copies), for checking the runtime's hook.
final class RecordingObserver: LinearInputObserver {
    struct Observation { let module: String; let inputs: [Float]; let rows: Int; let width: Int; let pointer: UnsafePointer<Float> }
    var observations: [Observation] = []

    func observe(module: String, inputs: UnsafePointer<Float>, rows: Int, width: Int) {
        observations.append(Observation(module: module, inputs: Array(UnsafeBufferPointer(start: inputs, count: rows * width)),
                                        rows: rows, width: width, pointer: inputs))
    }
}

@Suite struct DataAwareRuntimeTests {
    static let tweets = "llama-003-sentiment_tweets"
    static let reviews = "llama-014-sentiment_product_reviews"
    static let banking = "llama-007-intent_banking"

    static func llamaSequences(_ task: String, answers: Bool = true) throws -> (DecoderModel, [[Int32]]) {
        let model = try DecoderModel(modelDirectory: RuntimeFixtures.llamaTiny)
        let encoding = ExampleSequences(tokenizer: try TokenizerLoader.load(modelDirectory: RuntimeFixtures.llamaTiny),
                                        model: .decoder(model))
        let examples = try CorpusTasks.examples(task)
        return (model, try examples.map { answers ? try encoding.promptAndAnswer($0) : try encoding.prompt($0) })
    }

    /// The hook sees every adaptable linear map once per pass with all tokens: the first layer's q
    /// input is RMSNorm(embeddings) as computed here from the weights file; q, k and v (and gate, up)
    /// read one buffer; observing changes no output.
    @Test(.enabled(if: RuntimeFixtures.llamaTinyPresent))
    func observerSeesEveryLinearInput() throws {
        let (model, sequences) = try Self.llamaSequences("sentiment_tweets")
        let tokens = sequences.reduce(0) { $0 + $1.count }
        let observer = RecordingObserver()
        let observed = try model.forward(sequences, logits: .all, observer: observer)
        let plain = try model.forward(sequences, logits: .all)
        #expect(zip(observed, plain).allSatisfy { $0.hiddenStates == $1.hiddenStates && $0.logits == $1.logits })
        #expect(observer.observations.map(\.module).sorted() == model.adaptableLinearNames)
        #expect(observer.observations.allSatisfy { $0.rows == tokens })
        let byName = Dictionary(uniqueKeysWithValues: observer.observations.map { ($0.module, $0) })
        for layer in 0..<2 {
            let p = "model.layers.\(layer)."
            let q = byName[p + "self_attn.q_proj"]!, k = byName[p + "self_attn.k_proj"]!, v = byName[p + "self_attn.v_proj"]!
            #expect(q.inputs == k.inputs && k.inputs == v.inputs && q.pointer == v.pointer)
            #expect(byName[p + "mlp.gate_proj"]!.inputs == byName[p + "mlp.up_proj"]!.inputs)
            #expect(byName[p + "mlp.down_proj"]!.width == 256)
            #expect(q.inputs != byName[p + "self_attn.o_proj"]!.inputs)
        }
        // Independent reference for layer 0's q input: RMSNorm of the token embeddings (ε = 1e-5).
        let weights = try SafeTensorsFile(contentsOf: RuntimeFixtures.llamaTiny.appendingPathComponent("model.safetensors"))
        let embeddings = try weights.doubles("model.embed_tokens.weight")
        let norm = try weights.doubles("model.layers.0.input_layernorm.weight")
        let h = 128
        var expected: [Double] = []
        for id in sequences.joined() {
            let row = embeddings[(Int(id) * h)..<(Int(id) * h + h)]
            let rms = (row.reduce(0) { $0 + $1 * $1 } / Double(h) + 1e-5).squareRoot()
            expected += zip(row, norm).map { $0 / rms * $1 }
        }
        let got = byName["model.layers.0.self_attn.q_proj"]!.inputs
        let scale = expected.map(abs).max()!
        #expect(zip(got, expected).map { abs(Double($0) - $1) }.max()! / scale < 1e-5)
    }

    /// The sketch of a task's examples: one space per distinct input (q/k/v, o, gate/up, down per
    /// layer), every linear map recorded, ‖X‖² as the hook saw it; batches of a few tokens (several
    /// passes, the Gram path) give the one-pass sketch; module selection and byte cap apply.
    @Test(.enabled(if: RuntimeFixtures.llamaTinyPresent))
    func sketchOfLlamaTinyExamples() throws {
        let sketcher = try TaskInputSketcher(modelDirectory: RuntimeFixtures.llamaTiny)
        let examples = try CorpusTasks.examples("sentiment_tweets")
        let sketch = try sketcher.sketch(examples)
        let (model, sequences) = try Self.llamaSequences("sentiment_tweets")
        #expect(sketch.sequences == 10 && sketch.tokens == sequences.reduce(0) { $0 + $1.count })
        #expect(sketch.spaces.count == 8)
        #expect(sketch.modules == model.adaptableLinearNames)
        #expect(sketch.space(forModule: "layers.1.self_attn.k_proj")?.modules
                == ["model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.k_proj", "model.layers.1.self_attn.v_proj"])
        let observer = RecordingObserver()
        _ = try model.forward(sequences, logits: .none, observer: observer)
        for space in sketch.spaces {
            let x = observer.observations.first { $0.module == space.modules[0] }!.inputs
            let energy = x.reduce(0.0) { $0 + Double($1) * Double($1) }
            #expect(DataAwareFixtures.relative(space.totalEnergy, energy) < 1e-12)
            #expect(space.keptShare >= 0.999 || space.count == 64)
        }
        #expect(sketch.tokens > sketch.spaces[0].width, "the q/k/v space must take the Gram path")

        let batched = try sketcher.sketch(examples, options: .init(maxBatchTokens: 20))
        #expect(batched.spaces.map(\.modules) == sketch.spaces.map(\.modules))
        for (a, b) in zip(batched.spaces, sketch.spaces) {
            #expect(DataAwareFixtures.relative(a.totalEnergy, b.totalEnergy) < 1e-5)
            #expect(DataAwareFixtures.relative(a.energies[0], b.energies[0]) < 1e-4)
        }

        let prompts = try sketcher.sketch(examples, options: .init(includeAnswers: false))
        #expect(prompts.tokens == sketch.tokens - examples.reduce(0) { $0 + 1 + sketcher.encoding.tokenizer.encode($1.label!, addingSpecialTokens: false).count })
        let one = try sketcher.sketch(examples, options: .init(modules: ["layers.0.self_attn.v_proj"]))
        #expect(one.modules == ["model.layers.0.self_attn.v_proj"])
        #expect { try sketcher.sketch(examples, options: .init(modules: ["layers.0.self_attn.c_attn"])) } throws: { error in
            (error as? ClusteringError)?.code == .invalidArgument
        }
        let capped = try sketcher.sketch(examples, options: .init(maximumBytes: 20_000))
        #expect(capped.byteSize <= 20_000 && capped.byteSize > 15_000)
    }

    /// What the daemon records for a q+v task (`Options.forTask`): the spaces of its maps exactly as
    /// without the others, within half its adapter's bytes, and every other map's input within an
    /// eighth more, so that a merge with an adapter of the attention output (and MLP) is scored; the
    /// sketch of its own maps alone cannot score that merge.
    @Test(.enabled(if: RuntimeFixtures.llamaTinyPresent))
    func aTasksSketchCoversTheMapsItDoesNotAdapt() async throws {
        let sketcher = try TaskInputSketcher(modelDirectory: RuntimeFixtures.llamaTiny)
        let qv = try CorpusTasks.adapter(Self.tweets)
        let qkvo = try CorpusTasks.adapter(Self.banking)
        let names = { (adapter: LoRAAdapter) in Set(adapter.modules.map { sketcher.model.canonicalLinearName($0.name) }) }
        try #require(names(qv).isStrictSubset(of: names(qkvo)), "the corpus tasks' module sets changed")
        let examples = try CorpusTasks.examples(CorpusTasks.task(of: Self.tweets))
        let full = try sketcher.sketch(examples, options: .forTask(qv))
        var alone = TaskInputSketcher.Options.forTask(qv)
        alone.otherMapsMaximumBytes = nil
        let ownOnly = try sketcher.sketch(examples, options: alone)
        #expect(Set(full.modules).isSuperset(of: sketcher.model.adaptableLinearNames))
        let ownSpaces = full.spaces.filter { !names(qv).isDisjoint(with: $0.modules) }
        #expect(ownSpaces == ownOnly.spaces)
        func bytes(_ spaces: [TaskInputSketch.Space]) -> Int {
            spaces.reduce(0) { $0 + $1.count * ($1.width * MemoryLayout<Float>.size + MemoryLayout<Double>.size) }
        }
        #expect(bytes(ownSpaces) <= qv.tensorBytes / 2)
        #expect(bytes(full.spaces.filter { names(qv).isDisjoint(with: $0.modules) }) <= qv.tensorBytes / 8)
        #expect(full.spaces.contains { names(qv).isDisjoint(with: $0.modules) && $0.count > 0 })

        let padded = try ModuleUnionPadding.pad([qv, qkvo], names: [Self.tweets, Self.banking])
        let merge = try SVDClusterMerger().merge(padded, weights: [0.5, 0.5], rank: 4)
        let task = TaskProfile(name: Self.tweets, version: 1, adapter: padded[0])
        let score = try await DataAwareEvaluator(sketches: [Self.tweets: full]).score(task: task, candidate: merge)
        #expect(score > 0 && score < 1)
        // The maps reading other inputs than the task's (the attention output) count: without them
        // the merge would keep more.
        let ownMaps = Set(ownSpaces.flatMap(\.modules))
        #expect(merge.modules.contains { !ownMaps.contains(sketcher.model.canonicalLinearName($0.name)) })
        let withoutOthers = SyntheticTasks.adapter(merge.modules.map { module in
            ownMaps.contains(sketcher.model.canonicalLinearName(module.name)) ? module
                : LoRAModule(name: module.name, layer: module.layer, projection: module.projection,
                             a: Matrix(zeros: module.rank, module.inFeatures), b: Matrix(zeros: module.outFeatures, module.rank),
                             scale: module.scale)
        }, rank: 4, baseModel: merge.config.baseModelNameOrPath ?? "synthetic/base")
        #expect(try await DataAwareEvaluator(sketches: [Self.tweets: full]).score(task: task, candidate: withoutOthers) > score)
        await #expect { try await DataAwareEvaluator(sketches: [Self.tweets: ownOnly]).score(task: task, candidate: merge) }
            throws: { ($0 as? ClusteringError)?.code == .evaluatorFailed }
    }

    /// On the corpus: the own adapter 1, a zero adapter 0, a merge of two sentiment tasks in between;
    /// the data-aware merge keeps more of both on their examples than the SVD merge; at the output,
    /// the own adapter agrees fully with itself and the zero adapter reproduces none of its change.
    @Test(.enabled(if: RuntimeFixtures.llamaTinyPresent))
    func dataAwareScoresOnTheCorpus() async throws {
        let sketcher = try TaskInputSketcher(modelDirectory: RuntimeFixtures.llamaTiny)
        let ids = [Self.tweets, Self.reviews, Self.banking]
        let padded = try ModuleUnionPadding.pad(ids.map(CorpusTasks.adapter), names: ids)
        let tasks = try ids.enumerated().map { i, id in
            TaskProfile(name: id, version: 1, adapter: padded[i], examples: try CorpusTasks.examples(CorpusTasks.task(of: id)).map(\.text))
        }
        var sketches: [String: TaskInputSketch] = [:]
        for id in ids { sketches[id] = try sketcher.sketch(CorpusTasks.examples(CorpusTasks.task(of: id))) }
        let evaluator = DataAwareEvaluator(sketches: sketches)
        for task in tasks {
            #expect(try await evaluator.score(task: task, candidate: task.adapter) == 1)
            #expect(try await evaluator.score(task: task, candidate: DataAwareFixtures.zeroCopy(task.adapter)) == 0)
        }
        let pair = Array(tasks.prefix(2))
        let svd = try SVDClusterMerger().merge(pair.map(\.adapter), weights: [0.5, 0.5], rank: 4)
        let regmean = try DataAwareClusterMerger(tasks: tasks, sketches: sketches, options: .init(weighting: .relative))
            .merge(pair.map(\.adapter), weights: [0.5, 0.5], rank: 4)
        var svdScores: [Double] = [], regmeanScores: [Double] = []
        for task in pair {
            svdScores.append(try await evaluator.score(task: task, candidate: svd))
            regmeanScores.append(try await evaluator.score(task: task, candidate: regmean))
        }
        #expect(svdScores.allSatisfy { $0 > 0 && $0 < 1 })
        #expect(regmeanScores.reduce(0, +) > svdScores.reduce(0, +), "regmean \(regmeanScores) vs svd \(svdScores)")

        let model = BaseModel.decoder(try DecoderModel(modelDirectory: RuntimeFixtures.llamaTiny))
        let (_, prompts) = try Self.llamaSequences("sentiment_tweets", answers: false)
        let own = try FactoredLoRA(pair[0].adapter)
        let reference = try OutputAgreement.Reference(model: model, sequences: prompts, own: own)
        let same = try reference.agreement(own)
        #expect(abs(same.meanCosine - 1) < 1e-12 && same.retention == 1 && same.meanKL == 0 && same.top1Agreement == 1)
        let none = try reference.agreement(FactoredLoRA(DataAwareFixtures.zeroCopy(pair[0].adapter)))
        #expect(none.retention == 0 && none.meanKL == none.baseKL && (none.baseKL ?? 0) > 0)
        let merged = try reference.agreement(FactoredLoRA(svd))
        #expect(merged.meanKL! > 0 && merged.meanKL! < merged.baseKL!)
    }

    /// The encoder path (tiny random BERT fixture): four input spaces per layer (q/k/v, attention
    /// output, intermediate, output), the text alone as input, a `bert.` prefix found.
    @Test func sketchOfABertEncoder() throws {
        let sketcher = try TaskInputSketcher(modelDirectory: MiniLMFixtures.tinyModel)
        let examples = [TaskExample(text: "the service was quick", label: "positive"), TaskExample(text: "never again")]
        let sketch = try sketcher.sketch(examples)
        guard case .bert(let bert) = sketcher.model else { Issue.record("not a BERT model"); return }
        #expect(sketch.spaces.count == 4 * bert.configuration.layerCount)
        #expect(sketch.modules == bert.adaptableLinearNames)
        #expect(sketch.tokens == examples.reduce(0) { $0 + sketcher.encoding.tokenizer.encode($1.text).count })
        #expect(sketch.space(forModule: "bert.encoder.layer.0.attention.self.value")?.modules.count == 3)
        #expect(sketch.space(forModule: "encoder.layer.0.output.dense")?.width == bert.configuration.intermediateSize)

        // Asked for query and value only: key reads their input and shares their space for free;
        // the attention output (another input) is not recorded.
        let narrow = try sketcher.sketch(examples, options: .init(modules: ["encoder.layer.0.attention.self.query",
                                                                           "encoder.layer.0.attention.self.value"]))
        #expect(narrow.spaces.count == 1)
        #expect(narrow.spaces[0].modules == ["encoder.layer.0.attention.self.query", "encoder.layer.0.attention.self.key",
                                             "encoder.layer.0.attention.self.value"])
        #expect(narrow.space(forModule: "encoder.layer.0.attention.output.dense") == nil)
        #expect(narrow.spaces[0] == sketch.space(forModule: "encoder.layer.0.attention.self.query"))
    }

    /// all-MiniLM-L6-v2 with two corpus tasks (runs when ADAPTERD_MINILM_DIR names the model):
    /// sketches under a cap of half the adapter's bytes, own adapter 1, their merge in between.
    @Test(.enabled(if: MiniLMFixtures.modelDirectory != nil, MiniLMFixtures.modelMissing))
    func miniLMTasks() async throws {
        let directory = try #require(MiniLMFixtures.modelDirectory)
        let sketcher = try TaskInputSketcher(modelDirectory: directory)
        let ids = ["minilm-000-sentiment_product_reviews", "minilm-017-sentiment_tweets"]
        let padded = try ModuleUnionPadding.pad(ids.map(CorpusTasks.adapter), names: ids)
        var sketches: [String: TaskInputSketch] = [:]
        var tasks: [TaskProfile] = []
        for (i, id) in ids.enumerated() {
            let adapter = try CorpusTasks.adapter(id)
            let modules = Set(padded[i].modules.map(\.name))
            let sketch = try sketcher.sketch(CorpusTasks.examples(CorpusTasks.task(of: id)),
                                             options: .init(maximumBytes: adapter.tensorBytes / 2, modules: modules))
            #expect(sketch.byteSize <= adapter.tensorBytes / 2)
            #expect(sketch.spaces.count == 12)  // q/k/v and the attention output of 6 layers
            sketches[id] = sketch
            tasks.append(TaskProfile(name: id, version: 1, adapter: padded[i]))
        }
        let evaluator = DataAwareEvaluator(sketches: sketches)
        let merged = try SVDClusterMerger().merge(tasks.map(\.adapter), weights: [0.5, 0.5], rank: 8)
        for task in tasks {
            #expect(try await evaluator.score(task: task, candidate: task.adapter) == 1)
            let score = try await evaluator.score(task: task, candidate: merged)
            #expect(score > 0 && score < 1)
        }
    }
}
