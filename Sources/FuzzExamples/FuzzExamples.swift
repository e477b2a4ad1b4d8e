import AdapterCore
import Foundation
import FuzzSupport

/// Parses the bytes as an examples JSONL file, with the default limits and with tight ones.
func fuzzOne(_ data: Data) {
    _ = try? ExamplesFile.parse(data)
    _ = try? ExamplesFile.parse(data, limits: ExamplesFile.Limits(maxExamples: 3, maxLineBytes: 64))
}

/// libFuzzer's entry point: one input per call; must not crash, whatever the bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    fuzzOne(Data(bytes: start, count: count))
    return 0
}

#if !FUZZING
/// Without libFuzzer (the normal build), replays the files given as arguments.
@main
struct Replay {
    static func main() {
        exit(FuzzReplay.run(arguments: Array(CommandLine.arguments.dropFirst()), body: fuzzOne))
    }
}
#endif
