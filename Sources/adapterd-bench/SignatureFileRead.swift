import AdapterCore
import Foundation

/// Writes the synthetic adapter as an F16 PEFT directory (PEFTAdapterWriter) in a temporary directory and
/// times reading + decoding it (PEFTAdapterLoader: parse, validate, F16 → Double factors) and one raw read.
enum SignatureFileRead {
    struct Measurement {
        let seconds: Double
        /// One raw read(2) of the safetensors file, the floor of any loader.
        let rawSeconds: Double
        let bytes: Int
        let adapter: LoRAAdapter
    }

    static func measure(_ adapter: LoRAAdapter, repetitions: Int) throws -> Measurement {
        let fm = FileManager.default
        let parent = fm.temporaryDirectory.appendingPathComponent("adapterd-bench-\(ProcessInfo.processInfo.processIdentifier)")
        try fm.createDirectory(at: parent, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: parent) }
        // The writer creates the adapter directory itself and refuses an existing one.
        let directory = parent.appendingPathComponent("adapter")
        try PEFTAdapterWriter.write(adapter, to: directory, dtype: .f16)
        let weights = directory.appendingPathComponent(PEFTAdapterLoader.weightsFileName)
        let bytes = (try fm.attributesOfItem(atPath: weights.path)[.size] as? NSNumber)?.intValue ?? 0
        let read = try Stopwatch.median(of: repetitions) { try PEFTAdapterLoader.load(directory: directory) }
        let raw = try Stopwatch.median(of: repetitions) { try ReadBenchmark.rawRead(weights.path) }
        return Measurement(seconds: read.seconds, rawSeconds: raw.seconds, bytes: bytes, adapter: read.value)
    }
}
