import AdapterCore
import Foundation
import FuzzSupport

/// Validates the bytes as a safetensors file, then decodes every tensor as floats (and 2-D ones as
/// matrices), as the loader and the screening do.
func fuzzOne(_ data: Data) {
    guard let file = try? SafeTensorsFile(data: data) else { return }
    _ = file.tensorNames
    _ = file.dataByteCount
    for tensor in file.tensors {
        _ = try? file.floats(tensor.name)
        _ = try? file.bytes(of: tensor.name)
        if tensor.shape.count == 2 { _ = try? file.matrix(tensor.name) }
    }
}

/// libFuzzer's entry point: one input per call; must not crash, whatever the bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt { FuzzEntry.input(start, count, fuzzOne) }

#if !FUZZING
/// Without libFuzzer (the normal build), replays the files given as arguments.
@main struct Replay { static func main() { FuzzEntry.replayArguments(fuzzOne) } }
#endif
