import AdapterCore
import ArgumentParser
import Foundation

/// Spectral signature of a synthetic Llama-3.2-3B-shaped adapter: factored path vs dense SVD.
struct SignatureBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "signature",
        abstract: "Signature time (factored) vs dense SVD extrapolated to all 112 modules, and vs one file read.")

    @Option(help: "LoRA rank of the synthetic adapter.")
    var rank = 16

    @Option(help: "Modules of each shape (3072×3072 and 1024×3072) measured on the dense path.")
    var denseSamples = 1

    @Option(help: "Repetitions of the factored signature, the read and the raw read (the median is reported).")
    var repetitions = 9

    @OptionGroup var blas: BLASThreadOptions
    @OptionGroup var compute: ComputeThreadOptions

    func run() throws {
        blas.apply()
        compute.apply()
        print("signature benchmark: synthetic Llama-3.2-3B-shaped adapter, 28 layers, rank \(rank), OpenBLAS threads \(BLASThreads.count) (\(BLASThreads.coreName)), compute threads \(ComputeThreads.count)")
        let adapter = SyntheticAdapter.llama3B(rank: rank, seed: 1)
        let moduleCount = adapter.modules.count

        // Write it as an F16 PEFT directory and time one read + decode; the signature is then taken on
        // the adapter as read back (F16-rounded factors), as the daemon would.
        let read = try SignatureFileRead.measure(adapter, repetitions: repetitions)
        print("adapter file: \(read.bytes) bytes of F16 safetensors")
        print("file read+decode time (PEFTAdapterLoader, median of \(repetitions)): \(Stopwatch.format(read.seconds))")

        let factored = try Stopwatch.median(of: repetitions) { try SignatureExtractor.signature(of: read.adapter) }
        print("signature time (factored, \(moduleCount) modules, median of \(repetitions)): \(Stopwatch.format(factored.seconds))")
        print(String(format: "signature / file read+decode: %.2fx (goal <= 3x)", factored.seconds / read.seconds))
        print("one raw read of the file (open + read(2), median of \(repetitions)): \(Stopwatch.format(read.rawSeconds))")
        print(String(format: "signature / one raw read: %.2fx (goal <= 2x)", factored.seconds / read.rawSeconds))

        // Dense: form ΔW and take all its singular values, on a sample of each shape, then extrapolate.
        var perShape: [Int: Double] = [:]
        var maxRelativeDifference = 0.0
        for out in [SyntheticAdapter.hidden, SyntheticAdapter.kvWidth] {
            let sample = read.adapter.modules.filter { $0.outFeatures == out }.prefix(max(1, denseSamples))
            var total = 0.0
            for module in sample {
                let dense = try Stopwatch.time { try DenseReference.singularValues(of: module.update) }
                total += dense.seconds
                let fast = try LowRank.singularValues(of: module.update)
                for (x, y) in zip(fast, dense.value) { maxRelativeDifference = max(maxRelativeDifference, abs(x - y) / dense.value[0]) }
            }
            perShape[out] = total / Double(sample.count)
            print("dense SVD per module \(out)×\(SyntheticAdapter.hidden): \(Stopwatch.format(total / Double(sample.count))) (mean of \(sample.count))")
        }
        let denseTotal = read.adapter.modules.reduce(0.0) { $0 + (perShape[$1.outFeatures] ?? 0) }
        print("dense SVD time (extrapolated to \(moduleCount) modules): \(Stopwatch.format(denseTotal))")
        print(String(format: "speed-up factored vs dense: %.0fx (goal >= 1000x)", denseTotal / factored.seconds))
        print(String(format: "max |σ_factored − σ_dense| / σ₁ on sampled modules: %.2e", maxRelativeDifference))
    }
}
