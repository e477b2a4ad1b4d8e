import NIOCore

/// Answers the requests that need no waiting (`route`, `status` and `list` from the read snapshot)
/// on the connection's event loop, as soon as their frame is decoded, instead of handing each to the
/// connection's task on the cooperative pool and its answer back to the event loop: two thread
/// wake-ups and hops fewer per request, which on a small machine under many clients is most of a
/// read's cost.
///
/// Order is kept (a connection's answers come one at a time, in order): while a frame handed over
/// to the connection's task is unanswered, every later frame is handed over too. The task writes its
/// answer through `finishForwarded`, which writes it and counts the frame done in one step on the
/// event loop, so no immediate answer can overtake it.
final class ReadFastPath: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// What `answer` did with a frame: its response frame body (nil: a notification, nothing to send),
    /// or `.deferred`; and whether the connection should close after it (the server is stopping).
    enum Outcome {
        case answered(ByteBuffer?)
        case deferred
    }

    private let eventLoop: EventLoop
    private let answer: @Sendable (ByteBuffer) -> (Outcome, closeAfter: Bool)
    /// Event loop only: frames handed to the connection's task and not yet answered.
    private var forwarded = 0
    /// Event loop only.
    private var context: ChannelHandlerContext?

    init(eventLoop: EventLoop, answer: @escaping @Sendable (ByteBuffer) -> (Outcome, closeAfter: Bool)) {
        self.eventLoop = eventLoop
        self.answer = answer
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if forwarded == 0 {
            let (outcome, closeAfter) = answer(unwrapInboundIn(data))
            if case .answered(let response) = outcome {
                if let response {
                    let written = context.writeAndFlush(wrapOutboundOut(response))
                    if closeAfter {
                        // Completed on the event loop, where the context may be used.
                        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                        written.whenComplete { _ in bound.value.close(promise: nil) }
                    }
                } else if closeAfter {
                    context.close(promise: nil)
                }
                return
            }
        }
        forwarded += 1
        context.fireChannelRead(data)
    }

    /// Called by the connection's task when it has handled a frame handed over to it: writes the
    /// response (if any) and counts the frame done, on the event loop; returns once written.
    func finishForwarded(_ response: ByteBuffer?) async throws {
        try await eventLoop.flatSubmit { [self] () -> EventLoopFuture<Void> in
            forwarded -= 1
            guard let response else { return eventLoop.makeSucceededVoidFuture() }
            guard let context else {
                return eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
            }
            return context.writeAndFlush(wrapOutboundOut(response))
        }.get()
    }
}
