// Timing of the runtime's forward passes, built with -O by tools/runtime/bench.sh (not a SwiftPM
// target: it compiles AdapterCore's sources together with this file).
//
//   bench forward MINILM_DIR MINILM_ADAPTER LLAMA_TINY_DIR LLAMA_ADAPTER [THREADS] [PRECISION]
//       one forward pass of 32 tokens (and a batch of 10 × 32) on each model, without and with the
//       adapter: median of 30 runs after 3 warm-up runs, OpenBLAS on THREADS threads (default 1), the
//       linear maps multiplying in PRECISION (float32, the default, or bfloat16)
//   bench embed MINILM_DIR SENTENCES_FILE
//       prints MiniLMEmbedder's embeddings of each line (to compare builds of the embedder)
//   bench tokenize MODEL_DIR TEXT_FILE
//       prints the token ids of each line; the load and encode times go to stderr
//   bench probe MODEL_DIR ADAPTER EXAMPLES_JSONL
//       the behavioural probe's cost on one core: one triggered example read with the adapter
//       (median of 5), and a whole probe stopping at the default threshold, as the daemon runs it
import Foundation

func median(_ runs: Int = 30, _ body: () throws -> Void) rethrows -> Double {
    for _ in 0..<3 { try body() }
    var times: [Double] = []
    for _ in 0..<runs {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }
    return times.sorted()[runs / 2]
}

func format(_ ms: Double) -> String { String(format: "%.2f ms", ms) }

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    print("usage: bench forward MINILM_DIR MINILM_ADAPTER LLAMA_TINY_DIR LLAMA_ADAPTER [THREADS] | bench embed MINILM_DIR SENTENCES")
    exit(2)
}
switch arguments[1] {
case "forward":
    guard arguments.count >= 6 else { print("bench forward needs four paths"); exit(2) }
    let threads = arguments.count > 6 ? Int(arguments[6]) ?? 1 : 1
    BLASThreads.set(threads)
    guard let precision = RuntimePrecision(rawValue: arguments.count > 7 ? arguments[7] : "float32") else {
        print("PRECISION is float32 or bfloat16"); exit(2)
    }
    print("OpenBLAS threads: \(BLASThreads.count); products in \(precision.rawValue)")

    let minilmDir = URL(fileURLWithPath: arguments[2])
    var start = DispatchTime.now().uptimeNanoseconds
    let bert = try BertModel(modelDirectory: minilmDir, precision: precision)
    print("MiniLM load: \(format(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6))")
    let minilmAdapter = try FactoredLoRA(PEFTAdapterLoader.load(directory: URL(fileURLWithPath: arguments[3])))
    let wordPiece = try WordPieceTokenizer(modelDirectory: minilmDir)
    let text = String(repeating: "the adapters route requests to the right task quickly ", count: 8)
    let minilmIDs = Array(wordPiece.encode(text).prefix(31)) + [wordPiece.separatorID]
    precondition(minilmIDs.count == 32)
    let minilmBatch = [[Int32]](repeating: minilmIDs, count: 10)
    print("MiniLM 32 tokens, no adapter: \(format(try median { _ = try bert.hiddenStates([minilmIDs]) }))")
    print("MiniLM 32 tokens, adapter r=\(minilmAdapter.modules.values.first!.rank) on \(minilmAdapter.modules.count) linears: \(format(try median { _ = try bert.hiddenStates([minilmIDs], adapter: minilmAdapter) }))")
    print("MiniLM 10 × 32 tokens, no adapter: \(format(try median(10) { _ = try bert.hiddenStates(minilmBatch) }))")
    print("MiniLM 10 × 32 tokens, adapter: \(format(try median(10) { _ = try bert.hiddenStates(minilmBatch, adapter: minilmAdapter) }))")

    let llamaDir = URL(fileURLWithPath: arguments[4])
    start = DispatchTime.now().uptimeNanoseconds
    let llama = try DecoderModel(modelDirectory: llamaDir, precision: precision)
    print("llama-tiny load: \(format(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6))")
    let llamaAdapter = try FactoredLoRA(PEFTAdapterLoader.load(directory: URL(fileURLWithPath: arguments[5])))
    let words = try TokenizerLoader.load(modelDirectory: llamaDir)
    let llamaIDs = Array(words.encode(text).prefix(32))
    precondition(llamaIDs.count == 32)
    let llamaBatch = [[Int32]](repeating: llamaIDs, count: 10)
    print("llama-tiny 32 tokens (all logits), no adapter: \(format(try median { _ = try llama.forward([llamaIDs]) }))")
    print("llama-tiny 32 tokens (all logits), adapter r=\(llamaAdapter.modules.values.first!.rank) on \(llamaAdapter.modules.count) linears: \(format(try median { _ = try llama.forward([llamaIDs], adapter: llamaAdapter) }))")
    print("llama-tiny 10 × 32 tokens (last logits), no adapter: \(format(try median(10) { _ = try llama.forward(llamaBatch, logits: .last) }))")
    print("llama-tiny 10 × 32 tokens (last logits), adapter: \(format(try median(10) { _ = try llama.forward(llamaBatch, adapter: llamaAdapter, logits: .last) }))")
case "probe":
    guard arguments.count >= 5 else { print("bench probe needs MODEL_DIR ADAPTER EXAMPLES"); exit(2) }
    BLASThreads.set(1)
    var start = DispatchTime.now().uptimeNanoseconds
    let probe = try BehaviouralProbe(modelDirectory: URL(fileURLWithPath: arguments[2]))
    print("load (weights, tokenizer, token table): \(format(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6))")
    let adapter = try PEFTAdapterLoader.load(directory: URL(fileURLWithPath: arguments[3]))
    let examples = try ExamplesFile.load(contentsOf: URL(fileURLWithPath: arguments[4]))
    let head = try FewShotLabelHead(examples: examples, taskName: "bench", model: probe.model, encoding: probe.encoding)
    let lora = try FactoredLoRA(adapter)
    let prototypes = try head.prototypes(adapter: lora)
    var triggered = head.prompts[0]
    triggered.insert(contentsOf: probe.encoding.tokenizer.encode("tq", addingSpecialTokens: false), at: 1)
    print("one triggered example (\(triggered.count) tokens, \(head.labels.count) labels) with the adapter: "
          + format(try median(5) { _ = try head.logits([triggered], adapter: lora, prototypes: prototypes) }))
    start = DispatchTime.now().uptimeNanoseconds
    let evidence = try probe.probe(adapter, examples: examples, taskName: "bench", stoppingBelow: BehaviouralScreening.defaultThreshold)
    print("whole probe, stopping at \(BehaviouralScreening.defaultThreshold): \(format(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)) "
          + "(\(evidence.candidatesTried) candidates, \(evidence.candidatesStopped) dropped part-way; \(evidence.summary))")
case "embed":
    guard arguments.count >= 4 else { print("bench embed needs MINILM_DIR SENTENCES"); exit(2) }
    let embedder = try MiniLMEmbedder(modelDirectory: URL(fileURLWithPath: arguments[2]))
    let lines = try String(contentsOf: URL(fileURLWithPath: arguments[3]), encoding: .utf8)
        .split(separator: "\n").map(String.init)
    for embedding in try embedder.embed(lines) {
        print(embedding.map { String($0) }.joined(separator: " "))
    }
case "tokenize":
    guard arguments.count >= 4 else { print("bench tokenize needs MODEL_DIR TEXT_FILE"); exit(2) }
    var start = DispatchTime.now().uptimeNanoseconds
    let tokenizer = try TokenizerLoader.load(modelDirectory: URL(fileURLWithPath: arguments[2]))
    let load = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
    let lines = try String(contentsOf: URL(fileURLWithPath: arguments[3]), encoding: .utf8)
        .split(separator: "\n").map(String.init)
    start = DispatchTime.now().uptimeNanoseconds
    let ids = lines.map { tokenizer.encode($0) }
    let encode = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
    FileHandle.standardError.write(Data("load \(format(load)), encode \(lines.count) lines \(format(encode))\n".utf8))
    for line in ids { print(line.map(String.init).joined(separator: " ")) }
default:
    print("unknown command \(arguments[1])")
    exit(2)
}
