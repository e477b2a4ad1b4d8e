import NIOCore

/// Closes a connection whose request frame does not arrive completely within `timeout` of its first
/// byte. The idle timeout alone does not stop a client that trickles a frame a byte at a time, each
/// just before the idle timeout, and so holds a connection (and a buffer) for ever.
///
/// Sits before the frame decoder and follows the framing itself (4-byte big-endian length, then that
/// many bytes); it only observes, and passes every byte on unchanged. While a request of the
/// connection is being handled the deadline does not close it (a pipelined next frame may wait for
/// the server), it is re-armed instead.
final class FrameDeadlineHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let timeout: TimeAmount
    private let isBusy: @Sendable () -> Bool
    /// Bytes of the current frame's length prefix seen so far (0…3), and its value so far.
    private var headerBytes = 0
    private var header: UInt32 = 0
    /// Payload bytes of the current frame still to come.
    private var remaining = 0
    private var deadline: Scheduled<Void>?

    init(timeout: TimeAmount, isBusy: @escaping @Sendable () -> Bool) {
        self.timeout = timeout
        self.isBusy = isBusy
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        var view = buffer.readableBytesView[...]
        while !view.isEmpty {
            if remaining > 0 {
                let taken = min(remaining, view.count)
                remaining -= taken
                view = view.dropFirst(taken)
                if remaining == 0 { frameEnded() }
                continue
            }
            if headerBytes == 0 { frameBegan(context: context) }
            header = header << 8 | UInt32(view.first ?? 0)
            headerBytes += 1
            view = view.dropFirst()
            if headerBytes == 4 {
                remaining = Int(header)
                headerBytes = 0
                header = 0
                if remaining == 0 { frameEnded() }
            }
        }
        context.fireChannelRead(data)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    private func frameBegan(context: ChannelHandlerContext) {
        arm(context: context)
    }

    private func frameEnded() {
        deadline?.cancel()
        deadline = nil
    }

    private func arm(context: ChannelHandlerContext) {
        deadline?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = loopBound.value
            handler.expired(context: context)
        }
    }

    private func expired(context: ChannelHandlerContext) {
        deadline = nil
        if isBusy() {
            arm(context: context)
        } else {
            context.close(promise: nil)
        }
    }
}
