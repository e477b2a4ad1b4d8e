import AdapterProtocol
import NIOCore
import NIOEmbedded
import Foundation
import FuzzSupport

/// The frame limit used while fuzzing (the daemon's default is larger; the logic is the same).
let maximumFrameSize = 1 << 16

/// Feeds the bytes to the daemon's inbound path: as a byte stream through `FrameDecoder` (in two
/// chunks, so that frames straddle reads, then end of stream), every decoded frame through request
/// validation and the params decoding of every method; and the whole input as one frame payload.
func fuzzOne(_ data: Data) {
    for payload in decodeFrames(data) { handle(payload) }
    handle(data)
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
    // What the daemon does with a request frame.
    let request: RPCInboundRequest
    do {
        request = try RPCInboundRequest.parse(payload)
    } catch {
        _ = RPCEncoding.failure(id: error.id, error: error.error)
        return
    }
    decodeParams(Methods.Status.self, request)
    decodeParams(Methods.Install.self, request)
    decodeParams(Methods.List.self, request)
    decodeParams(Methods.Show.self, request)
    decodeParams(Methods.Remove.self, request)
    decodeParams(Methods.Route.self, request)
    decodeParams(Methods.QuarantineList.self, request)
    decodeParams(Methods.ConfigGet.self, request)
    decodeParams(Methods.BudgetSet.self, request)
}

func decodeParams<M: RPCMethod>(_ method: M.Type, _ request: RPCInboundRequest) {
    do {
        let params = try request.params(as: M.Params.self)
        _ = try? JSONCoding.encoder.encode(params)
    } catch {
        _ = RPCEncoding.failure(id: request.id, error: error)
    }
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
