import AdapterProtocol
import NIOCore
import NIOEmbedded
import Testing

@Suite("Framing")
struct FramingTests {
    private func decoderChannel(maximum: Int) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(
            ByteToMessageHandler(FrameDecoder(maximumFrameSize: maximum), maximumBufferSize: maximum + 4))
        return channel
    }

    private func frame(_ text: String) -> ByteBuffer {
        Framing.frame(Array(text.utf8))
    }

    @Test func splitsConcatenatedFramesAndJoinsPartialOnes() throws {
        let channel = try decoderChannel(maximum: 1024)
        var stream = frame(#"{"a":1}"#)
        var second = frame(#"{"b":22}"#)
        stream.writeBuffer(&second)
        // Deliver in three pieces that cut through a header and a payload.
        let first = stream.readSlice(length: 3)!
        let middle = stream.readSlice(length: 12)!
        try channel.writeInbound(first)
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        try channel.writeInbound(middle)
        try channel.writeInbound(stream)
        let one = try #require(try channel.readInbound(as: ByteBuffer.self))
        let two = try #require(try channel.readInbound(as: ByteBuffer.self))
        #expect(String(buffer: one) == #"{"a":1}"#)
        #expect(String(buffer: two) == #"{"b":22}"#)
        _ = try channel.finish()
    }

    @Test func refusesAnOversizedFrameFromItsHeaderAlone() throws {
        let channel = try decoderChannel(maximum: 100)
        var header = ByteBuffer()
        header.writeInteger(UInt32(101), endianness: .big)
        #expect {
            try channel.writeInbound(header)
        } throws: { error in
            (error as? FramingError)?.code == .frameTooLarge && (error as? FramingError)?.announcedBytes == 101
        }
    }

    @Test func acceptsAFrameOfExactlyTheLimit() throws {
        let channel = try decoderChannel(maximum: 10)
        try channel.writeInbound(frame("0123456789"))
        let payload = try #require(try channel.readInbound(as: ByteBuffer.self))
        #expect(payload.readableBytes == 10)
        _ = try channel.finish()
    }

    @Test func reportsATruncatedFrameAtEndOfStream() throws {
        let channel = try decoderChannel(maximum: 1024)
        var partial = frame(#"{"method":"status"}"#)
        partial.moveWriterIndex(to: 10)
        try channel.writeInbound(partial)
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        #expect {
            _ = try channel.finish()
        } throws: { error in
            (error as? FramingError)?.code == .truncated
        }
    }

    @Test func garbageWithAHugeLengthIsRefused() throws {
        let channel = try decoderChannel(maximum: 1 << 20)
        // "GET / HTTP/1.1": 'G','E','T',' ' read as a big-endian length is ~1.19 GB.
        #expect(throws: FramingError.self) {
            try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"))
        }
    }

    @Test func encoderPrefixesTheLengthAndRefusesOversizedPayloads() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(FrameEncoder(maximumFrameSize: 8)))
        try channel.writeOutbound(ByteBuffer(string: "abc"))
        var written = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(written.readInteger(endianness: .big, as: UInt32.self) == 3)
        #expect(String(buffer: written) == "abc")
        #expect(throws: FramingError.self) {
            try channel.writeOutbound(ByteBuffer(string: "123456789"))
        }
        _ = try? channel.finish()
    }
}
