import AdapterCore
import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Reading + decoding one synthetic Llama-3.2-3B-shaped adapter (PEFTAdapterLoader) against one raw
/// read of its safetensors file measured alternately in the same run (the floor any loader pays), and
/// encoding it as PEFT files (PEFTAdapterWriter, what every merged served adapter costs) against one
/// copy of the file's bytes.
/// (`load` is the socket-load benchmark, hence the name.)
struct ReadBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read",
        abstract: "Read + decode one 3B-shaped adapter vs one raw read(2) of the file; encode vs one copy.")

    @Option(help: "LoRA rank of the synthetic adapter.") var rank = 16
    @Option(help: "dtype of the file: F16, BF16 or F32.") var dtype = "F16"
    @Option(help: "Repetitions of each measurement (the median is reported).") var repetitions = 15
    @Option(help: "Compute threads decoding the modules, comma-separated: each measured in the same run.")
    var computeThreads = "1,\(ProcessInfo.processInfo.activeProcessorCount)"

    func run() throws {
        guard let storage = DType(rawValue: dtype.uppercased()) else {
            throw ValidationError("dtype must be F16, BF16 or F32")
        }
        let adapter = SyntheticAdapter.llama3B(rank: rank, seed: 1)
        let fm = FileManager.default
        let parent = fm.temporaryDirectory.appendingPathComponent("adapterd-bench-read-\(ProcessInfo.processInfo.processIdentifier)")
        try fm.createDirectory(at: parent, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: parent) }
        let directory = parent.appendingPathComponent("adapter")
        try PEFTAdapterWriter.write(adapter, to: directory, dtype: storage)
        let weights = directory.appendingPathComponent(PEFTAdapterLoader.weightsFileName)
        let config = try Data(contentsOf: directory.appendingPathComponent(PEFTAdapterLoader.configFileName))
        let bytes = try Self.rawRead(weights.path).count
        print("read benchmark: synthetic Llama-3.2-3B-shaped adapter, \(adapter.modules.count) modules, rank \(rank), "
              + "\(bytes) bytes of \(storage.rawValue) safetensors (in the page cache), median of \(repetitions)")

        let counts = try PositiveCounts.parse(computeThreads, what: "thread count")
        var loaded: LoRAAdapter?
        for threads in counts {
            ComputeThreads.set(threads)
            var raw: [Double] = [], load: [Double] = [], decode: [Double] = []
            for _ in 0..<max(1, repetitions) {
                raw.append(try Stopwatch.time { try Self.rawRead(weights.path) }.seconds)
                let timed = try Stopwatch.time { try PEFTAdapterLoader.load(directory: directory) }
                load.append(timed.seconds)
                loaded = timed.value
                let data = Data(try Self.rawRead(weights.path))
                decode.append(try Stopwatch.time { try PEFTAdapterLoader.load(configJSON: config, safetensors: data) }.seconds)
            }
            let rawSeconds = Self.median(raw), loadSeconds = Self.median(load), decodeSeconds = Self.median(decode)
            print("compute threads \(threads):")
            print("  one raw read of the file (open + read(2) into a new buffer): \(Stopwatch.format(rawSeconds))")
            print("  read + decode (PEFTAdapterLoader.load(directory:), read(2) into memory): \(Stopwatch.format(loadSeconds))")
            print("  decode of bytes in memory (PEFTAdapterLoader.load(configJSON:safetensors:), the daemon's install path): "
                  + "\(Stopwatch.format(decodeSeconds))")
            print(String(format: "  read + decode / raw read: %.2fx (goal <= 2x)", loadSeconds / rawSeconds))
        }
        // The other direction: a merged served adapter is encoded once per generation that adds it.
        let fileBytes = try Self.rawRead(weights.path)
        var copy: [Double] = [], encode: [Double] = []
        for _ in 0..<max(1, repetitions) {
            copy.append(Stopwatch.time { fileBytes.withUnsafeBytes { Data($0) } }.seconds)
            encode.append(try Stopwatch.time { try PEFTAdapterWriter.serialize(adapter, dtype: storage) }.seconds)
        }
        let copySeconds = Self.median(copy), encodeSeconds = Self.median(encode)
        print("write (one thread):")
        print("  one copy of the file's bytes into a new buffer: \(Stopwatch.format(copySeconds))")
        print("  encode as PEFT files in memory (PEFTAdapterWriter.serialize, each merged served adapter's cost): "
              + "\(Stopwatch.format(encodeSeconds))")
        print(String(format: "  encode / copy: %.2fx", encodeSeconds / copySeconds))
        if let loaded {
            let same = zip(loaded.modules, adapter.modules).allSatisfy { $0.name == $1.name && $0.a.rows == $1.a.rows }
            print("modules read back: \(loaded.modules.count) (\(same ? "names and ranks as written" : "MISMATCH"))")
        }
    }

    /// The whole file by open + read(2) into a freshly allocated buffer.
    static func rawRead(_ path: String) throws -> [UInt8] {
        let fd = Glibc.open(path, O_RDONLY)
        guard fd >= 0 else { throw ValidationError("cannot open \(path)") }
        defer { _ = Glibc.close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ValidationError("cannot stat \(path)") }
        let size = Int(info.st_size)
        var failed = false
        let buffer = [UInt8](unsafeUninitializedCapacity: size) { out, initialized in
            var done = 0
            while done < size {
                let n = Glibc.read(fd, out.baseAddress! + done, size - done)
                if n <= 0 { failed = true; break }
                done += n
            }
            initialized = done
        }
        guard !failed else { throw ValidationError("short read of \(path)") }
        return buffer
    }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}
