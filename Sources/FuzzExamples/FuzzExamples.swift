import AdapterCore
import Foundation
import FuzzSupport

/// Parses the bytes as an examples JSONL file, with the default limits, with tight ones and with
/// label names; whatever is accepted must come back unchanged from its normalised JSONL (the form
/// the daemon stores and re-reads).
func fuzzOne(_ data: Data) {
    if let (examples, jsonl) = try? ExamplesFile.normalise(data) {
        precondition((try? ExamplesFile.parse(jsonl)) == examples, "normalised examples do not parse back to themselves")
    }
    _ = try? ExamplesFile.parse(data, limits: ExamplesFile.Limits(maxExamples: 3, maxLineBytes: 64))
    _ = try? ExamplesFile.parse(data, labelNames: ["neg", "pos"])
}

/// libFuzzer's entry point: one input per call; must not crash, whatever the bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt { FuzzEntry.input(start, count, fuzzOne) }

#if !FUZZING
/// Without libFuzzer (the normal build), replays the files given as arguments.
@main struct Replay { static func main() { FuzzEntry.replayArguments(fuzzOne) } }
#endif
