@_spi(Testing) import AdapterProtocol
import NIOCore
import NIOEmbedded
import Foundation
import FuzzSupport

/// The frame limit used while fuzzing (the daemon's default is larger; the logic is the same).
let maximumFrameSize = 1 << 16

/// Feeds the bytes to the daemon's inbound path: as a byte stream through `FrameDecoder` (in two
/// chunks, so that frames straddle reads, then end of stream), every decoded frame through request
/// validation and the params decoding of every method; the whole input as one frame payload; and
/// the input after its first four bytes as one payload.
///
/// Each frame is read the way the daemon reads it (`RPCInboundRequest.parse`: the request scanner
/// first, as on the read fast path and the connection's task alike) and by JSONDecoder alone; the
/// two must agree (`RPCParseOutcome`), else the target traps so that libFuzzer keeps the input.
/// `MethodTable.handleImmediately` itself is in AdapterDaemon, which this target does not link (it
/// would bring SQLite, BoringSSL and OpenBLAS into the sanitizer build); what it does per frame
/// beyond `parse` and `params(as:)` is wrap an encoded result around the id, checked here too.
func fuzzOne(_ data: Data) {
    for payload in decodeFrames(data) { handle(payload) }
    handle(data)
    // What follows a length prefix, whatever length it announces: the seeds are frames, and most
    // mutations of a frame's payload (an inserted digit) no longer match its prefix, so without this
    // they would never reach the request readers.
    if data.count > Framing.headerSize { handle(Data(data.dropFirst(Framing.headerSize))) }
}

func decodeFrames(_ data: Data) -> [Data] {
    let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maximumFrameSize: maximumFrameSize)))
    var payloads: [Data] = []
    let middle = data.startIndex + data.count / 2
    do {
        for chunk in [data[data.startIndex..<middle], data[middle...]] {
            try channel.writeInbound(channel.allocator.buffer(bytes: chunk))
            while let frame = try channel.readInbound(as: ByteBuffer.self) {
                payloads.append(Data(frame.readableBytesView))
            }
        }
        _ = try channel.finish(acceptAlreadyClosed: true)
    } catch {
        _ = try? channel.finish(acceptAlreadyClosed: true)
    }
    return payloads
}

func handle(_ payload: Data) {
    // What a client does with a response frame.
    _ = try? JSONCoding.decoder.decode(RPCEnvelope.self, from: payload)
    // What the daemon does with a request frame (the error reply encoded as it sends it, the params
    // of every method decoded and encoded again), both ways.
    let daemon = RPCParseOutcome(payload, path: .daemon)
    let decoderOnly = RPCParseOutcome(payload, path: .decoderOnly)
    if daemon != decoderOnly {
        fatalError("the request scanner and JSONDecoder disagree on \(payload.count) bytes:\n  \(daemon)\nJSONDecoder alone:\n  \(decoderOnly)")
    }
    // The fast path's success response: an encoded result wrapped around the id, which must be the
    // bytes of the typed encoding.
    if let id = daemon.id {
        let result = RouteParams(task: "t")
        let typed = try? RPCEncoding.success(id: id, result: result)
        let wrapped = try? RPCEncoding.success(id: id, encodedResult: JSONCoding.encoder.encode(result))
        if typed == nil || typed != wrapped {
            fatalError("a wrapped result differs from the typed one for id \(id)")
        }
    }
}

/// libFuzzer's entry point: one input per call; must not crash, whatever the bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt { FuzzEntry.input(start, count, fuzzOne) }

#if !FUZZING
/// Without libFuzzer (the normal build), replays the files given as arguments.
@main struct Replay { static func main() { FuzzEntry.replayArguments(fuzzOne) } }
#endif
