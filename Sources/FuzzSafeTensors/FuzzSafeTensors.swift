import AdapterCore
import Foundation
import FuzzSupport

/// The bytes fed to a scan in chunks of 1–64 bytes (the length picked from the data): the file it
/// gives must be refused with the same code, or hold the same tensors with the same NaN/∞ findings.
func compareWithChunkedRead(_ data: Data, _ whole: Result<SafeTensorsFile, SafeTensorsError>) {
    let scan = SafeTensorsReadScan.scanning(data, chunkBytes: 1 + Int(data.last ?? 0) % 64)
    let chunked = Result { () throws(SafeTensorsError) in try SafeTensorsFile(data: data, scan: scan) }
    switch (whole, chunked) {
    case (.failure(let a), .failure(let b)):
        precondition(a.code == b.code, "whole file: \(a.code); read in chunks: \(b.code)")
    case (.success(let a), .success(let b)):
        precondition(a.tensors == b.tensors, "the chunked read found other tensors")
        for tensor in a.tensors where tensor.shape.count == 2 {
            let x = try? a.checkedFactor(tensor.name).firstNonFinite, y = try? b.checkedFactor(tensor.name).firstNonFinite
            precondition(x == y, "NaN/∞ of '\(tensor.name)': whole file \(String(describing: x)), chunks \(String(describing: y))")
        }
    default:
        preconditionFailure("whole file and chunked read disagree: \(whole) against \(chunked)")
    }
}

/// Validates the bytes as a safetensors file, then decodes every tensor as floats (and 2-D ones as
/// matrices), as the loader and the screening do; and reads them again as `PEFTAdapterLoader` reads a
/// file, chunk by chunk through a `SafeTensorsReadScan`, which must give the same verdicts.
func fuzzOne(_ data: Data) {
    let whole = Result { () throws(SafeTensorsError) in try SafeTensorsFile(data: data) }
    compareWithChunkedRead(data, whole)
    guard let file = try? whole.get() else { return }
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
