import AdapterCore
import ArgumentParser
import Foundation

/// `adapterd-bench scan`: adapters screened per second on a corpus, against reading alone.
struct ScanBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Scan throughput (adapters/second) on a corpus; baseline: reading and parsing the adapters only.")

    @Option(name: .long, help: "Adapter directory or tree (e.g. data/corpus/adapters).")
    var corpus: String = "data/corpus/adapters"

    @Option(name: .long, help: "Base model directory, to also time the token model.")
    var baseModel: [String] = []

    @Option(name: .long, help: "Parallel jobs for the parallel run.")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .long, help: "Repetitions; the best is reported.")
    var repeats: Int = 3

    func timeBest(_ body: () throws -> Void) rethrows -> Double {
        var best = Double.infinity
        for _ in 0..<max(1, repeats) {
            let t = Date()
            try body()
            best = min(best, Date().timeIntervalSince(t))
        }
        return best
    }

    func run() throws {
        BLASThreads.set(1)
        let dirs = try AdapterScanner.discover([corpus])
        guard !dirs.isEmpty else { throw ValidationError("no adapters under \(corpus)") }
        let n = Double(dirs.count)
        print("scan benchmark: \(dirs.count) adapters under \(corpus), best of \(repeats)")

        let load = try timeBest {
            for d in dirs { _ = try CorpusFeaturizer.loadAdapter(d) }
        }
        print(String(format: "  baseline: read + parse only, 1 job       %8.1f adapters/s", n / load))

        let weights = AdapterScanner(detector: try Detector(model: try DefaultDetectorModels.weightsOnly()))
        let w1 = timeBest { _ = weights.scan(dirs, jobs: 1) }
        print(String(format: "  weights-only detector, 1 job            %8.1f adapters/s  (%.2fx the read-only time)", n / w1, w1 / load))
        let wN = timeBest { _ = weights.scan(dirs, jobs: jobs) }
        print(String(format: "  weights-only detector, %d jobs           %8.1f adapters/s  (%.2fx speed-up over 1 job)", jobs, n / wN, w1 / wN))

        if !baseModel.isEmpty, let tokenModel = try DefaultDetectorModels.withTokens() {
            var tables: [TokenEmbeddingTable] = []
            let loadTables = try timeBest {
                tables = try baseModel.map { try TokenEmbeddingTable.load(directory: URL(fileURLWithPath: $0)) }
            }
            let vocab = tables.map { "\($0.source): \($0.tokens.count) tokens × \($0.hiddenSize)" }.joined(separator: ", ")
            print(String(format: "  base-model embeddings loaded once in %.2f s", loadTables) + " (\(vocab))")
            let tokens = AdapterScanner(detector: try Detector(model: tokenModel, tokenTables: tables))
            let t1 = timeBest { _ = tokens.scan(dirs, jobs: 1) }
            print("  token detector (\(tokenModel.featureSet)), 1 job " + String(format: "%8.1f adapters/s  (%.2fx the read-only time)", n / t1, t1 / load))
            let tN = timeBest { _ = tokens.scan(dirs, jobs: jobs) }
            print(String(format: "  token detector, %d jobs                  %8.1f adapters/s  (%.2fx speed-up over 1 job)", jobs, n / tN, t1 / tN))
        }
    }
}
