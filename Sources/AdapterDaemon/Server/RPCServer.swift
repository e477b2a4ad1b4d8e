import AdapterProtocol
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOFoundationCompat
import NIOPosix

/// Where the server listens.
public enum ListenAddress: Sendable, Hashable, CustomStringConvertible {
    /// Bind a new socket at this path (an existing socket file there is replaced).
    case path(String)
    /// An already bound and listening socket, e.g. from systemd socket activation.
    case descriptor(Int32)

    public var description: String {
        switch self {
        case .path(let path): path
        case .descriptor(let fd): "inherited socket fd \(fd)"
        }
    }
}

/// Limits the server enforces on every connection.
public struct ServerLimits: Sendable, Hashable {
    public var maxConnections: Int
    /// Largest request frame from a peer that may mutate.
    public var maxFrameBytes: Int
    /// Largest request frame from any other peer.
    public var maxReadOnlyFrameBytes: Int
    /// Largest response frame.
    public var maxResponseBytes: Int
    public var idleTimeout: TimeAmount
    /// Connections one uid that may not mutate can hold at once; nil = only `maxConnections` applies.
    public var maxConnectionsPerUser: Int?
    /// Connections only peers that may mutate can use: all peers that may not mutate together hold
    /// at most `maxConnections - adminReservedConnections`.
    public var adminReservedConnections: Int
    /// Time from a request frame's first byte to its last; nil = unlimited (only the idle timeout).
    public var requestTimeout: TimeAmount?

    public init(maxConnections: Int, maxFrameBytes: Int, maxReadOnlyFrameBytes: Int,
                maxResponseBytes: Int = 64 * 1024 * 1024, idleTimeout: TimeAmount,
                maxConnectionsPerUser: Int? = nil, requestTimeout: TimeAmount? = nil, adminReservedConnections: Int = 0) {
        self.maxConnections = maxConnections
        self.adminReservedConnections = adminReservedConnections
        self.maxFrameBytes = maxFrameBytes
        self.maxReadOnlyFrameBytes = maxReadOnlyFrameBytes
        self.maxResponseBytes = maxResponseBytes
        self.idleTimeout = idleTimeout
        self.maxConnectionsPerUser = maxConnectionsPerUser
        self.requestTimeout = requestTimeout
    }

    public init(settings: DaemonSettings) {
        self.init(
            maxConnections: settings.maxConnections,
            maxFrameBytes: Int(settings.maxFrameBytes),
            maxReadOnlyFrameBytes: Int(settings.maxReadOnlyFrameBytes),
            idleTimeout: Self.timeAmount(seconds: settings.idleTimeoutSeconds),
            maxConnectionsPerUser: settings.maxConnectionsPerUser,
            requestTimeout: Self.timeAmount(seconds: settings.requestTimeoutSeconds),
            adminReservedConnections: settings.adminReservedConnections)
    }

    /// Seconds as a TimeAmount, saturating instead of overflowing for absurdly large values.
    static func timeAmount(seconds: Double) -> TimeAmount {
        let nanoseconds = seconds * 1e9
        return .nanoseconds(nanoseconds >= Double(Int64.max) ? Int64.max : Int64(max(0, nanoseconds)))
    }
}

/// The Unix-socket JSON-RPC server: accepts connections, reads each peer's credentials, frames
/// requests, dispatches them to a `MethodTable`, and shuts down gracefully.
public final class RPCServer: Sendable {
    /// One accepted connection, set up on its event loop.
    struct Connection: Sendable {
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        let peer: PeerCredentials
        let mayMutate: Bool
        /// nil when the server was full or shutting down: answer `busy` and close.
        let registryID: Int?
        /// Why the connection was not admitted (when `registryID` is nil).
        let refusal: ConnectionRegistry.Refusal?
        /// Answers reads on the event loop (admitted connections only).
        let fastPath: ReadFastPath?
    }

    private let address: ListenAddress
    private let limits: ServerLimits
    private let policy: NIOLockedValueBox<AccessPolicy>
    private let methods: MethodTable
    private let logger: Logger
    private let group: EventLoopGroup
    private let registry: ConnectionRegistry
    private let serverChannel = NIOLockedValueBox<Channel?>(nil)
    private let boundPromise: NIOLockedValueBox<[CheckedContinuation<Void, Error>]> = NIOLockedValueBox([])
    private let started = NIOLockedValueBox<Result<Void, Error>?>(nil)

    public init(address: ListenAddress, limits: ServerLimits, policy: AccessPolicy, methods: MethodTable,
                logger: Logger, group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.address = address
        self.limits = limits
        self.policy = NIOLockedValueBox(policy)
        self.methods = methods
        self.logger = logger
        self.group = group
        self.registry = ConnectionRegistry(admission: ConnectionAdmission(
            maximum: limits.maxConnections, reservedForAdministrators: limits.adminReservedConnections,
            perUserLimit: limits.maxConnectionsPerUser))
    }

    /// Replaces the access policy (configuration reload); applies to new connections.
    public func updatePolicy(_ policy: AccessPolicy) {
        self.policy.withLockedValue { $0 = policy }
    }

    /// Number of open connections.
    public var connectionCount: Int { registry.count }

    /// Binds, then serves until `shutDown()`; returns after every in-flight request has been answered.
    public func run() async throws {
        let server: NIOAsyncChannel<Connection, Never>
        do {
            server = try await bind()
        } catch {
            markStarted(.failure(error))
            throw error
        }
        serverChannel.withLockedValue { $0 = server.channel }
        if case .path(let path) = address {
            // 0660: the daemon's user and group; others are kept out by the file mode (the socket unit sets
            // the same mode under systemd).
            chmod(path, 0o660)
        }
        markStarted(.success(()))
        logger.info("listening on \(address)")
        try await withThrowingDiscardingTaskGroup { group in
            try await server.executeThenClose { inbound in
                for try await connection in inbound {
                    group.addTask { await self.serve(connection) }
                }
            }
        }
        if case .path(let path) = address {
            unlink(path)
        }
        logger.info("server stopped")
    }

    /// Waits until the socket is bound (or binding failed).
    public func waitUntilListening() async throws {
        if let result = started.withLockedValue({ $0 }) { return try result.get() }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            let ready: Result<Void, Error>? = started.withLockedValue { result in
                if result == nil { boundPromise.withLockedValue { $0.append(continuation) } }
                return result
            }
            if let ready { continuation.resume(with: ready) }
        }
    }

    /// Stops accepting, closes idle connections, and lets busy ones answer before closing.
    public func shutDown() {
        registry.shutDown()
        serverChannel.withLockedValue { $0 }?.close(promise: nil)
    }

    private func markStarted(_ result: Result<Void, Error>) {
        let waiting = started.withLockedValue { started -> [CheckedContinuation<Void, Error>] in
            started = result
            return boundPromise.withLockedValue { list in
                defer { list = [] }
                return list
            }
        }
        for continuation in waiting { continuation.resume(with: result) }
    }

    private func bind() async throws -> NIOAsyncChannel<Connection, Never> {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
        let initializer: @Sendable (Channel) -> EventLoopFuture<Connection> = { [self] channel in
            self.initialize(channel)
        }
        switch address {
        case .path(let path):
            return try await bootstrap.bind(
                unixDomainSocketPath: path, cleanupExistingSocketFile: true, childChannelInitializer: initializer)
        case .descriptor(let fd):
            return try await bootstrap.bind(fd, childChannelInitializer: initializer)
        }
    }

    private func initialize(_ channel: Channel) -> EventLoopFuture<Connection> {
        let policy = self.policy.withLockedValue { $0 }
        let limits = self.limits
        let registry = self.registry
        let methods = self.methods
        return PeerCredentials.read(from: channel).flatMapThrowing { peer in
            let mayMutate = policy.mayMutate(peer)
            let frameLimit = mayMutate ? limits.maxFrameBytes : limits.maxReadOnlyFrameBytes
            // Administrators are trusted with connections; everyone else gets a per-user share, so one
            // local user cannot hold every connection slot, and readers together leave the slots
            // reserved for administrators free.
            let admission = registry.add(channel, uid: peer.uid, mayMutate: mayMutate)
            var registryID: Int? = nil
            var refusal: ConnectionRegistry.Refusal? = nil
            switch admission {
            case .success(let id):
                registryID = id
                channel.closeFuture.whenComplete { _ in registry.remove(id) }
            case .failure(let error):
                refusal = error.refusal
            }
            let isBusy: @Sendable () -> Bool = { [registryID] in registryID.map(registry.isBusy) ?? false }
            let sync = channel.pipeline.syncOperations
            // Idle = nothing read *and* nothing written: timed from the last read alone, a connection whose
            // request ran about as long as the timeout was closed just after its answer was sent, before
            // the client's next request arrived.
            try sync.addHandler(IdleStateHandler(allTimeout: limits.idleTimeout))
            try sync.addHandler(IdleConnectionCloser(isBusy: isBusy))
            if let requestTimeout = limits.requestTimeout {
                try sync.addHandler(FrameDeadlineHandler(timeout: requestTimeout, isBusy: isBusy))
            }
            try sync.addHandler(ByteToMessageHandler(
                FrameDecoder(maximumFrameSize: frameLimit), maximumBufferSize: frameLimit + Framing.headerSize))
            try sync.addHandler(MessageToByteHandler(FrameEncoder(maximumFrameSize: limits.maxResponseBytes)))
            var fastPath: ReadFastPath? = nil
            if let registryID {
                let handler = ReadFastPath(eventLoop: channel.eventLoop) { frame in
                    guard registry.beginRequest(registryID) else { return (.deferred, false) }
                    let outcome = methods.handleImmediately(payload: Data(buffer: frame), peer: peer, mayMutate: mayMutate)
                    let closeAfter = registry.endRequest(registryID)
                    if case .answered(let response) = outcome {
                        return (.answered(response.map { Self.responseBuffer($0, limit: limits.maxResponseBytes) }), closeAfter)
                    }
                    return (.deferred, false)
                }
                try sync.addHandler(handler)
                fastPath = handler
            }
            let asyncChannel = try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            return Connection(channel: asyncChannel, peer: peer, mayMutate: mayMutate, registryID: registryID,
                              refusal: refusal, fastPath: fastPath)
        }
    }

    /// A response payload as the frame body to send: a `too large` error instead of one over the limit.
    static func responseBuffer(_ response: Data, limit: Int) -> ByteBuffer {
        guard response.count <= limit else {
            let error = ServerError(.tooLarge(nil), "the response of \(response.count) bytes exceeds the limit of \(limit) bytes")
            return ByteBuffer(data: RPCEncoding.failure(id: nil, error: error.rpcError))
        }
        return ByteBuffer(data: response)
    }

    private func serve(_ connection: Connection) async {
        let logger = self.logger
        let peer = connection.peer
        do {
            try await connection.channel.executeThenClose { inbound, outbound in
                guard let id = connection.registryID else {
                    let error: ServerError
                    switch connection.refusal {
                    case .userFull(let limit):
                        logger.warning("declined a connection: uid \(connection.peer.uid) holds \(limit) connections",
                                       metadata: ["peer": "\(peer)"])
                        error = ServerError(.busy, "uid \(connection.peer.uid) already has \(limit) connections open to adapterd (max-connections-per-user); close one or retry later")
                    case .reservedForAdministrators(let unprivilegedLimit):
                        logger.warning("declined a connection: peers that may not mutate hold \(unprivilegedLimit) connections",
                                       metadata: ["peer": "\(peer)"])
                        error = ServerError(.busy, "adapterd has \(unprivilegedLimit) connections open by peers that may not change it; the other \(limits.maxConnections - unprivilegedLimit) are reserved for administrators (admin-reserved-connections); retry later")
                    case .shuttingDown:
                        error = ServerError(.shuttingDown, "adapterd is stopping; no new connections")
                    default:
                        logger.warning("declined a connection: \(limits.maxConnections) connections open",
                                       metadata: ["peer": "\(peer)"])
                        error = ServerError(.busy, "adapterd has \(limits.maxConnections) connections open; retry later")
                    }
                    try? await outbound.write(ByteBuffer(data: RPCEncoding.failure(id: nil, error: error.rpcError)))
                    return
                }
                do {
                    for try await frame in inbound {
                        guard registry.beginRequest(id) else {
                            let error = ServerError(.shuttingDown, "adapterd is stopping; no new requests")
                            try await outbound.write(ByteBuffer(data: RPCEncoding.failure(id: nil, error: error.rpcError)))
                            return
                        }
                        let payload = Data(buffer: frame)
                        let response = await methods.handle(
                            payload: payload, peer: connection.peer, mayMutate: connection.mayMutate,
                            send: { data in try? await outbound.write(ByteBuffer(data: data)) },
                            logger: logger)
                        let buffer = response.map { Self.responseBuffer($0, limit: limits.maxResponseBytes) }
                        if let fastPath = connection.fastPath {
                            // Written on the event loop together with the fast path's count of
                            // frames it handed over, so a later read cannot be answered first.
                            try await fastPath.finishForwarded(buffer)
                        } else if let buffer {
                            try await outbound.write(buffer)
                        }
                        if registry.endRequest(id) { return }
                    }
                } catch let error as FramingError {
                    logger.notice("dropping a connection: \(error)", metadata: ["peer": "\(peer)"])
                    if error.code == .frameTooLarge {
                        let refusal = ServerError(
                            .tooLarge(TooLargeDetails(limitBytes: Int64(error.limitBytes), actualBytes: Int64(error.announcedBytes))),
                            "request rejected: \(error)")
                        try? await outbound.write(ByteBuffer(data: RPCEncoding.failure(id: nil, error: refusal.rpcError)))
                    }
                } catch let error as ByteToMessageDecoderError.PayloadTooLargeError {
                    logger.notice("dropping a connection: \(error)", metadata: ["peer": "\(peer)"])
                    let refusal = ServerError(.tooLarge(nil), "request rejected: the frame exceeds the buffer limit")
                    try? await outbound.write(ByteBuffer(data: RPCEncoding.failure(id: nil, error: refusal.rpcError)))
                }
            }
        } catch {
            logger.debug("connection ended: \(error)", metadata: ["peer": "\(peer)"])
        }
    }
}
