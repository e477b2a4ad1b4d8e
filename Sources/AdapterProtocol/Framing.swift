import NIOCore

/// The wire framing of adapterd: every message is a 4-byte big-endian unsigned length N followed by
/// N bytes of UTF-8 JSON (docs/PROTOCOL.md, "Framing").
///
/// A length prefix instead of newline or Content-Length framing: payloads can be megabytes of base64,
/// so the receiver must know the size before buffering any of it (and refuse early), and a fixed
/// binary header needs no header parsing that a hostile client could abuse.
public enum Framing {
    /// Bytes of the length prefix.
    public static let headerSize = 4
    /// The largest payload a 32-bit prefix can express.
    public static let absoluteMaximum = Int(UInt32.max)

    /// Writes one frame carrying `payload`.
    public static func frame(_ payload: some Collection<UInt8>, allocator: ByteBufferAllocator = .init()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: headerSize + payload.count)
        buffer.writeInteger(UInt32(truncatingIfNeeded: payload.count), endianness: .big)
        buffer.writeBytes(payload)
        return buffer
    }
}

/// Why a byte stream could not be split into frames.
public struct FramingError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: Hashable, Sendable {
        /// The length prefix announces more bytes than the receiver accepts.
        case frameTooLarge
        /// The stream ended in the middle of a frame.
        case truncated
    }

    public let code: Code
    public let announcedBytes: Int
    public let limitBytes: Int

    public init(code: Code, announcedBytes: Int, limitBytes: Int) {
        self.code = code
        self.announcedBytes = announcedBytes
        self.limitBytes = limitBytes
    }

    public var description: String {
        switch code {
        case .frameTooLarge:
            "a frame of \(announcedBytes) bytes exceeds the limit of \(limitBytes) bytes"
        case .truncated:
            "the connection closed in the middle of a frame (\(announcedBytes) bytes announced)"
        }
    }
}

/// Splits the inbound byte stream into frame payloads, refusing a frame larger than `maximumFrameSize`
/// as soon as its length prefix arrives (before any of it is buffered).
public struct FrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    public let maximumFrameSize: Int

    public init(maximumFrameSize: Int) {
        self.maximumFrameSize = maximumFrameSize
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt32.self) else {
            return .needMoreData
        }
        let size = Int(length)
        guard size <= maximumFrameSize else {
            throw FramingError(code: .frameTooLarge, announcedBytes: size, limitBytes: maximumFrameSize)
        }
        guard buffer.readableBytes >= Framing.headerSize + size else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: Framing.headerSize)
        guard let payload = buffer.readSlice(length: size) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(payload))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if buffer.readableBytes > 0 {
            let announced = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt32.self).map(Int.init) ?? 0
            buffer.moveReaderIndex(to: buffer.writerIndex)
            throw FramingError(code: .truncated, announcedBytes: announced, limitBytes: maximumFrameSize)
        }
        return .needMoreData
    }
}

/// Prepends the 4-byte length to every outbound payload, refusing payloads over `maximumFrameSize`.
public struct FrameEncoder: MessageToByteEncoder {
    public typealias OutboundIn = ByteBuffer

    public let maximumFrameSize: Int

    public init(maximumFrameSize: Int) {
        self.maximumFrameSize = maximumFrameSize
    }

    public func encode(data: ByteBuffer, out: inout ByteBuffer) throws {
        guard data.readableBytes <= maximumFrameSize else {
            throw FramingError(code: .frameTooLarge, announcedBytes: data.readableBytes, limitBytes: maximumFrameSize)
        }
        out.writeInteger(UInt32(data.readableBytes), endianness: .big)
        out.writeImmutableBuffer(data)
    }
}
