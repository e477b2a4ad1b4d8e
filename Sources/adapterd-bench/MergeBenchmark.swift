import AdapterCore
import ArgumentParser
import Foundation

/// Merging 8 synthetic Llama-3.2-3B-shaped adapters to rank 16: the Gram (CholeskyQR) merge against the
/// Householder-QR factored merge measured in the same run, the error of both against the dense truncated
/// SVD on a shape where dense is affordable, and the dense path extrapolated from sampled 3B modules.
struct MergeBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Gram merge vs Householder-QR factored merge (same run), errors vs dense, dense extrapolated.")

    @Option(help: "Number of adapters to merge.")
    var adapters = 8

    @Option(help: "Rank of each input adapter and of the result.")
    var rank = 16

    @Option(help: "Repetitions of each factored merge (the median is reported).")
    var repetitions = 5

    @Option(help: "Repetitions of the Householder-QR baseline (0: skip it, e.g. to profile the Gram path).")
    var baselineRepetitions = 3

    @Option(help: "Modules of each shape (3072×3072 and 1024×3072) merged on the dense path (0: none).")
    var denseSamples = 1

    @Option(help: "Width of the square modules on which the errors against dense are measured.")
    var errorWidth = 512

    @OptionGroup var blas: BLASThreadOptions
    @OptionGroup var compute: ComputeThreadOptions

    func run() throws {
        blas.apply()
        compute.apply()
        print("merge benchmark: \(adapters) synthetic Llama-3.2-3B-shaped adapters (rank \(rank)) → rank \(rank), "
              + "OpenBLAS threads \(BLASThreads.count) (\(BLASThreads.coreName)), compute threads \(ComputeThreads.count), "
              + "median of \(repetitions)")
        let inputs = (0..<adapters).map { SyntheticAdapter.llama3B(rank: rank, seed: UInt64(100 + $0)) }
        let weights = [Double](repeating: 1 / Double(adapters), count: adapters)

        let gram = try Stopwatch.median(of: repetitions) {
            try AdapterMerger.merge(inputs, weights: weights, method: .svd(rank: rank))
        }
        let moduleCount = gram.value.modules.count
        print("merge, Gram path (AdapterMerger, \(moduleCount) modules): \(Stopwatch.format(gram.seconds))")
        // The baseline: the same truncation with Householder QR of both stacked factors, module by module.
        let moduleUpdates: [[LowRankUpdate]] = inputs[0].modules.map { template in
            inputs.map { adapter in adapter.modules.first { $0.name == template.name }!.update }
        }
        guard baselineRepetitions > 0 else { return }
        let householder = try Stopwatch.median(of: baselineRepetitions) {
            try ParallelLoop.map(moduleUpdates.count) {
                try LowRank.truncatedWeightedSumByHouseholderQR(moduleUpdates[$0], weights: weights, rank: rank)
            }
        }
        print("merge, Householder QR path (same modules): \(Stopwatch.format(householder.seconds))")
        print(String(format: "speed-up Gram vs Householder QR: %.1fx (goal >= 10x)", householder.seconds / gram.seconds))
        var agreement = 0.0
        for (merged, qr) in zip(gram.value.modules, householder.value) {
            agreement = max(agreement, try LowRank.distance(merged.update, qr.update) / LowRank.frobeniusNorm(of: qr.update))
        }
        print(String(format: "relative Frobenius difference Gram vs Householder (all %d modules): %.2e", moduleCount, agreement))

        try measureErrors(weights: weights)
        if denseSamples > 0 { try extrapolateDense(inputs, weights: weights, factoredSeconds: gram.seconds, merged: gram.value) }
    }

    /// Both factored paths against the dense truncated SVD on square modules of `errorWidth`.
    func measureErrors(weights: [Double]) throws {
        var rng = SeededGenerator(seed: 7)
        let bound = 1 / Double(errorWidth).squareRoot()
        let updates = try (0..<adapters).map { _ in
            try LowRankUpdate(
                b: Matrix(rows: errorWidth, cols: rank, elements: (0..<(errorWidth * rank)).map { _ in (rng.nextUnitDouble() * 2 - 1) * 0.02 }),
                a: Matrix(rows: rank, cols: errorWidth, elements: (0..<(rank * errorWidth)).map { _ in (rng.nextUnitDouble() * 2 - 1) * bound }),
                scale: 2)
        }
        let sum = try DenseReference.weightedSum(updates, weights: weights)
        let dense = DenseReference.deltaW(try DenseReference.truncatedSVD(sum, rank: rank).update)
        let gram = DenseReference.deltaW(try LowRank.truncatedWeightedSum(updates, weights: weights, rank: rank).update)
        let qr = DenseReference.deltaW(try LowRank.truncatedWeightedSumByHouseholderQR(updates, weights: weights, rank: rank).update)
        print(String(format: "relative error vs dense truncated SVD (%d×%d, %d adapters): Gram %.2e, Householder %.2e (goal <= 1e-6)",
                     errorWidth, errorWidth, adapters, relativeDifference(gram, dense), relativeDifference(qr, dense)))
    }

    /// The dense path (form ΔW, dgesdd) on sampled 3B modules, extrapolated to all of them.
    func extrapolateDense(_ inputs: [LoRAAdapter], weights: [Double], factoredSeconds: Double, merged: LoRAAdapter) throws {
        var perShape: [Int: Double] = [:]
        var worstAgreement = 0.0
        for out in [SyntheticAdapter.hidden, SyntheticAdapter.kvWidth] {
            let names = inputs[0].modules.filter { $0.outFeatures == out }.prefix(denseSamples).map(\.name)
            var total = 0.0
            for name in names {
                let updates = inputs.compactMap { $0.modules.first { $0.name == name }?.update }
                let dense = try Stopwatch.time {
                    try DenseReference.truncatedSVD(try DenseReference.weightedSum(updates, weights: weights), rank: rank)
                }
                total += dense.seconds
                guard let module = merged.modules.first(where: { $0.name == name }) else { continue }
                worstAgreement = max(worstAgreement, relativeDifference(DenseReference.deltaW(module.update),
                                                                        DenseReference.deltaW(dense.value.update)))
            }
            perShape[out] = total / Double(names.count)
            print("dense merge per module \(out)×\(SyntheticAdapter.hidden): \(Stopwatch.format(total / Double(names.count))) (mean of \(names.count))")
        }
        let denseTotal = merged.modules.reduce(0.0) { $0 + (perShape[$1.outFeatures] ?? 0) }
        print("dense merge time (extrapolated to \(merged.modules.count) modules): \(Stopwatch.format(denseTotal))")
        print(String(format: "speed-up Gram vs dense: %.0fx", denseTotal / factoredSeconds))
        print(String(format: "relative Frobenius difference Gram vs dense ΔW (sampled 3B modules): %.2e", worstAgreement))
    }

    func relativeDifference(_ x: Matrix, _ y: Matrix) -> Double {
        var diff = 0.0
        for i in 0..<x.elements.count { diff += (x.elements[i] - y.elements[i]) * (x.elements[i] - y.elements[i]) }
        let norm = y.frobeniusNormSquared.squareRoot()
        return norm > 0 ? (diff.squareRoot() / norm) : diff.squareRoot()
    }
}
