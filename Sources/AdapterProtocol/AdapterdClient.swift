import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOFoundationCompat
import NIOPosix

/// An async client of adapterd over its Unix socket: typed calls, concurrent requests on one
/// connection, and `progress` notifications delivered to a per-call callback.
public final class AdapterdClient: Sendable {
    /// Default socket path when neither `--socket` nor `ADAPTERD_SOCKET` says otherwise.
    public static let defaultSocketPath = "/run/adapterd/adapterd.sock"
    /// Default largest frame the client sends or accepts: a 512 MiB adapter in base64 plus JSON.
    public static let defaultMaximumFrameSize = 704 * 1024 * 1024

    private let channel: Channel
    private let state: ClientState
    private let maximumFrameSize: Int

    private init(channel: Channel, state: ClientState, maximumFrameSize: Int) {
        self.channel = channel
        self.state = state
        self.maximumFrameSize = maximumFrameSize
    }

    /// Connects to the daemon listening on `socketPath`.
    public static func connect(
        socketPath: String,
        maximumFrameSize: Int = defaultMaximumFrameSize,
        group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> AdapterdClient {
        let state = ClientState()
        do {
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(10))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        try sync.addHandler(ByteToMessageHandler(
                            FrameDecoder(maximumFrameSize: maximumFrameSize),
                            maximumBufferSize: maximumFrameSize + Framing.headerSize))
                        try sync.addHandler(MessageToByteHandler(FrameEncoder(maximumFrameSize: maximumFrameSize)))
                        try sync.addHandler(ClientResponseHandler(state: state))
                    }
                }
                .connect(unixDomainSocketPath: socketPath)
                .get()
            return AdapterdClient(channel: channel, state: state, maximumFrameSize: maximumFrameSize)
        } catch {
            throw AdapterdClientError(
                code: .cannotConnect, message: "cannot connect to adapterd at \(socketPath): \(Self.explain(error))")
        }
    }

    /// Calls a method with typed params and returns its typed result; a daemon error is thrown as `RPCError`.
    public func call<M: RPCMethod>(
        _ method: M.Type, _ params: M.Params,
        onProgress: (@Sendable (ProgressParams) -> Void)? = nil
    ) async throws -> M.Result {
        let id = state.nextID()
        let payload = try RPCEncoding.request(id: id, method: M.name, params: params)
        let response = try await send(id: id, payload: payload, onProgress: onProgress)
        do {
            return try JSONCoding.decoder.decode(RPCResultOnly<M.Result>.self, from: response).result
        } catch {
            throw AdapterdClientError(
                code: .protocolViolation,
                message: "the response to \(M.name) is not a valid result: \(RPCInboundRequest.describe(error, decoding: RPCResultOnly<M.Result>.self, from: response))")
        }
    }

    /// Calls a method whose params are given as raw JSON (for tests and generic tools); returns the
    /// raw JSON of the whole response object. Daemon errors are returned, not thrown.
    public func callRaw(method: String, paramsJSON: String?) async throws -> Data {
        let id = state.nextID()
        var text = #"{"jsonrpc":"2.0","id":\#(id),"method":"# + String(decoding: try JSONCoding.encoder.encode(method), as: UTF8.self)
        if let paramsJSON { text += #","params":"# + paramsJSON }
        text += "}"
        return try await send(id: id, payload: Data(text.utf8), onProgress: nil, throwErrors: false)
    }

    /// Closes the connection; pending calls fail with `connectionClosed`.
    public func close() async {
        try? await channel.close()
    }

    private func send(
        id: RPCID, payload: Data, onProgress: (@Sendable (ProgressParams) -> Void)?, throwErrors: Bool = true
    ) async throws -> Data {
        guard payload.count <= maximumFrameSize else {
            throw AdapterdClientError(
                code: .requestTooLarge,
                message: "the request is \(payload.count) bytes; the limit is \(maximumFrameSize) bytes")
        }
        let promise = channel.eventLoop.makePromise(of: Data.self)
        guard state.register(id: id, promise: promise, onProgress: onProgress) else {
            // Every promise must be completed: NIO traps on one dropped unfulfilled (debug builds).
            let error = AdapterdClientError(code: .connectionClosed, message: "the connection to adapterd is closed")
            promise.fail(error)
            throw error
        }
        channel.writeAndFlush(ByteBuffer(bytes: payload)).whenFailure { error in
            self.state.fail(id: id, error: AdapterdClientError(
                code: .connectionClosed, message: "could not send the request: \(Self.explain(error))"))
        }
        let data = try await promise.futureResult.get()
        if throwErrors {
            let envelope: RPCEnvelope
            do {
                envelope = try JSONCoding.decoder.decode(RPCEnvelope.self, from: data)
            } catch {
                throw AdapterdClientError(code: .protocolViolation, message: "the response is not JSON-RPC: \(error)")
            }
            if let error = envelope.error { throw error }
        }
        return data
    }

    static func explain(_ error: Error) -> String {
        if let error = error as? IOError {
            switch error.errnoCode {
            case ENOENT: return "no such socket (is adapterd running?)"
            case ECONNREFUSED: return "connection refused (is adapterd running?)"
            case EACCES, EPERM: return "permission denied (are you in the daemon's group?)"
            default: return String(describing: error)
            }
        }
        if let error = error as? NIOConnectionError, let first = error.connectionErrors.first {
            return explain(first.error)
        }
        return String(describing: error)
    }
}

/// Pending calls of one client connection, keyed by request id.
final class ClientState: Sendable {
    private struct Pending {
        var promise: EventLoopPromise<Data>
        var onProgress: (@Sendable (ProgressParams) -> Void)?
    }

    private struct Storage {
        var counter: Int64 = 0
        var pending: [RPCID: Pending] = [:]
        var closed = false
    }

    private let storage = NIOLockedValueBox(Storage())

    func nextID() -> RPCID {
        .number(storage.withLockedValue { storage in
            storage.counter += 1
            return storage.counter
        })
    }

    func register(id: RPCID, promise: EventLoopPromise<Data>, onProgress: (@Sendable (ProgressParams) -> Void)?) -> Bool {
        storage.withLockedValue { storage in
            guard !storage.closed else { return false }
            storage.pending[id] = Pending(promise: promise, onProgress: onProgress)
            return true
        }
    }

    func complete(id: RPCID, data: Data) {
        storage.withLockedValue { $0.pending.removeValue(forKey: id) }?.promise.succeed(data)
    }

    func fail(id: RPCID, error: Error) {
        storage.withLockedValue { $0.pending.removeValue(forKey: id) }?.promise.fail(error)
    }

    func progress(_ params: ProgressParams) {
        storage.withLockedValue { $0.pending[params.requestId]?.onProgress }?(params)
    }

    /// Fails every pending call; calls registered later fail immediately.
    func failAll(_ error: Error) {
        let pending = storage.withLockedValue { storage in
            storage.closed = true
            defer { storage.pending = [:] }
            return storage.pending
        }
        for (_, call) in pending { call.promise.fail(error) }
    }
}

/// Dispatches inbound frames to pending calls or progress callbacks.
final class ClientResponseHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    private let state: ClientState

    init(state: ClientState) {
        self.state = state
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        let payload = buffer.readData(length: buffer.readableBytes) ?? Data()
        guard let envelope = try? JSONCoding.decoder.decode(RPCEnvelope.self, from: payload) else {
            state.failAll(AdapterdClientError(code: .protocolViolation, message: "adapterd sent a frame that is not JSON-RPC"))
            context.close(promise: nil)
            return
        }
        if let method = envelope.method, envelope.id == nil {
            if method == Notifications.progress,
               let notification = try? JSONCoding.decoder.decode(RPCNotification<ProgressParams>.self, from: payload) {
                state.progress(notification.params)
            }
            return
        }
        switch envelope.id {
        case .some(.some(let id)):
            state.complete(id: id, data: payload)
        default:
            // An error without an id (oversized or unreadable request): the daemon closes next.
            let error = envelope.error ?? RPCError(code: .internalError, message: "adapterd sent a response without an id")
            state.failAll(error)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A socket error (reset, broken pipe: the daemon went away) is a closed connection; anything
        // else (an unreadable or oversized frame) is the daemon breaking the protocol.
        if error is IOError || error is ChannelError {
            state.failAll(AdapterdClientError(code: .connectionClosed,
                                              message: "the connection to adapterd was lost: \(AdapterdClient.explain(error))"))
        } else {
            state.failAll(AdapterdClientError(code: .protocolViolation, message: "connection error: \(error)"))
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.failAll(AdapterdClientError(code: .connectionClosed, message: "adapterd closed the connection"))
        context.fireChannelInactive()
    }
}
