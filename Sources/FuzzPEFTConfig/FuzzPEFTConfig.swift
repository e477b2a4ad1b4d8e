import AdapterCore
import Foundation
import FuzzSupport

/// Parses the bytes as a PEFT adapter_config.json and asks for the rank and scale of a few module
/// names (exercising rank_pattern / alpha_pattern matching).
func fuzzOne(_ data: Data) {
    guard let parsed = try? PEFTConfigParser.parse(data) else { return }
    for module in ["model.layers.0.self_attn.q_proj", "transformer.h.1.attn.c_attn", "q_proj", ""] {
        _ = try? parsed.rankAndScale(forModule: module)
    }
    for key in parsed.rankPatternKeys + parsed.alphaPatternKeys {
        _ = PEFTConfigParser.patternMatches(key, module: "model.layers.3.mlp.down_proj")
    }
}

/// libFuzzer's entry point: one input per call; must not crash, whatever the bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt { FuzzEntry.input(start, count, fuzzOne) }

#if !FUZZING
/// Without libFuzzer (the normal build), replays the files given as arguments.
@main struct Replay { static func main() { FuzzEntry.replayArguments(fuzzOne) } }
#endif
