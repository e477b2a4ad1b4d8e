import AdapterCore
import ArgumentParser
import Foundation

/// Merging 8 synthetic Llama-3.2-3B-shaped adapters to rank 16: factored SVD merge vs the dense path.
struct MergeBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Factored truncated-SVD merge vs dense (form ΔW, dgesdd) extrapolated from sampled modules.")

    @Option(help: "Number of adapters to merge.")
    var adapters = 8

    @Option(help: "Rank of each input adapter and of the result.")
    var rank = 16

    @Option(help: "Modules of each shape (3072×3072 and 1024×3072) merged on the dense path.")
    var denseSamples = 1

    @Option(help: "OpenBLAS threads for both paths.")
    var threads = 1

    func run() throws {
        BLASThreads.set(threads)
        print("merge benchmark: \(adapters) synthetic Llama-3.2-3B-shaped adapters (rank \(rank)) → rank \(rank), OpenBLAS threads \(BLASThreads.count)")
        let inputs = (0..<adapters).map { SyntheticAdapter.llama3B(rank: rank, seed: UInt64(100 + $0)) }
        let weights = [Double](repeating: 1 / Double(adapters), count: adapters)

        let factored = try Stopwatch.time { try AdapterMerger.merge(inputs, weights: weights, method: .svd(rank: rank)) }
        let moduleCount = factored.value.modules.count
        print("factored merge time (\(moduleCount) modules): \(Stopwatch.format(factored.seconds))")

        var perShape: [Int: Double] = [:]
        var worstAgreement = 0.0
        var factoredResidual = 0.0, denseResidual = 0.0
        for out in [SyntheticAdapter.hidden, SyntheticAdapter.kvWidth] {
            let names = inputs[0].modules.filter { $0.outFeatures == out }.prefix(max(1, denseSamples)).map(\.name)
            var total = 0.0
            for name in names {
                let updates = inputs.compactMap { $0.modules.first { $0.name == name }?.update }
                let dense = try Stopwatch.time { () throws -> (TruncatedFactorization, Matrix) in
                    let sum = try DenseReference.weightedSum(updates, weights: weights)
                    return (try DenseReference.truncatedSVD(sum, rank: rank), sum)
                }
                total += dense.seconds
                let (denseResult, exactSum) = dense.value
                guard let merged = factored.value.modules.first(where: { $0.name == name }) else { continue }
                let denseDelta = DenseReference.deltaW(denseResult.update)
                let factoredDelta = DenseReference.deltaW(merged.update)
                worstAgreement = max(worstAgreement, relativeDifference(factoredDelta, denseDelta))
                factoredResidual = max(factoredResidual, relativeDifference(factoredDelta, exactSum))
                denseResidual = max(denseResidual, relativeDifference(denseDelta, exactSum))
            }
            perShape[out] = total / Double(names.count)
            print("dense merge per module \(out)×\(SyntheticAdapter.hidden): \(Stopwatch.format(total / Double(names.count))) (mean of \(names.count))")
        }
        let denseTotal = factored.value.modules.reduce(0.0) { $0 + (perShape[$1.outFeatures] ?? 0) }
        print("dense merge time (extrapolated to \(moduleCount) modules): \(Stopwatch.format(denseTotal))")
        print(String(format: "speed-up factored vs dense: %.0fx (goal >= 50x)", denseTotal / factored.seconds))
        print(String(format: "relative Frobenius difference factored vs dense ΔW (sampled modules): %.2e", worstAgreement))
        print(String(format: "relative truncation error vs exact weighted sum: factored %.6f, dense %.6f", factoredResidual, denseResidual))
    }

    func relativeDifference(_ x: Matrix, _ y: Matrix) -> Double {
        var diff = 0.0
        for i in 0..<x.elements.count { diff += (x.elements[i] - y.elements[i]) * (x.elements[i] - y.elements[i]) }
        let norm = y.frobeniusNormSquared.squareRoot()
        return norm > 0 ? (diff.squareRoot() / norm) : diff.squareRoot()
    }
}
