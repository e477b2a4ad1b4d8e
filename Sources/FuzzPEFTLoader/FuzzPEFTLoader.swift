import AdapterCore
import Foundation
import FuzzSupport

/// Separates the adapter_config.json part of an input from its safetensors part.
let separator = Data("@@SAFETENSORS@@".utf8)

/// Loads a whole PEFT adapter: the input is `config JSON` + separator + `safetensors bytes`.
func fuzzOne(_ data: Data) {
    let (config, weights) = splitFuzzInput(data, separator: separator)
    _ = try? PEFTAdapterLoader.load(configJSON: config, safetensors: weights)
}

/// libFuzzer's entry point: one input per call; must not crash, whatever the bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt { FuzzEntry.input(start, count, fuzzOne) }

#if !FUZZING
/// Without libFuzzer (the normal build), replays the files given as arguments.
@main struct Replay { static func main() { FuzzEntry.replayArguments(fuzzOne) } }
#endif
