import AdapterProtocol
import CoreMetrics
import Foundation
import Logging

/// Maps method names to typed handlers and turns every outcome into a response payload:
/// authorisation (`MethodAccess`), params decoding, and errors as JSON-RPC error objects (what each
/// error becomes is decided in WireErrors.swift).
public struct MethodTable: Sendable {
    struct Entry: Sendable {
        let access: MethodAccess
        let run: @Sendable (RPCInboundRequest, RequestContext) async throws -> Data
        /// Answers without suspending, or nil when it cannot right now (then `run` answers).
        var immediate: (@Sendable (RPCInboundRequest, RequestContext) throws -> Data?)? = nil
        /// The latency histogram of the method's requests (nil: the table records no metrics).
        var timer: CoreMetrics.Timer? = nil
    }

    /// What `handleImmediately` did with a frame.
    public enum ImmediateOutcome: Sendable {
        /// The response payload (nil for a notification).
        case answered(Data?)
        /// Not a request this table answers without suspending: hand it to `handle`.
        case deferred
    }

    private var entries: [String: Entry] = [:]
    /// Where latency per method and errors by code are recorded (nil: nowhere).
    private let metrics: DaemonMetrics?

    public init(metrics: DaemonMetrics? = nil) {
        self.metrics = metrics
    }

    /// Registers the handler of `method`.
    public mutating func register<M: RPCMethod>(
        _ method: M.Type, _ body: @escaping @Sendable (M.Params, RequestContext) async throws -> M.Result
    ) {
        var entry = Entry(access: MethodAccess(M.self)) { request, context in
            let params = try request.params(as: M.Params.self)
            let result = try await body(params, context)
            guard let id = request.id else { return Data() }
            return try RPCEncoding.success(id: id, result: result)
        }
        entry.timer = metrics?.requestTimer(method: M.name)
        entries[M.name] = entry
    }

    /// Registers the handler of `method` whose result comes already encoded as JSON text (the bytes
    /// `JSONCoding.encoder` gives for an `M.Result`), e.g. from a cache of the read snapshot.
    ///
    /// `immediate`, when given, answers without suspending (e.g. from an in-memory snapshot), or
    /// returns nil when it cannot right now; the server then calls it on the connection's event loop
    /// (`handleImmediately`), saving two thread hops per request.
    public mutating func registerEncoded<M: RPCMethod>(
        _ method: M.Type,
        immediate: (@Sendable (M.Params, RequestContext) throws -> Data?)? = nil,
        _ body: @escaping @Sendable (M.Params, RequestContext) async throws -> Data
    ) {
        var entry = Entry(access: MethodAccess(M.self)) { request, context in
            let params = try request.params(as: M.Params.self)
            let result = try await body(params, context)
            guard let id = request.id else { return Data() }
            return try RPCEncoding.success(id: id, encodedResult: result)
        }
        if let immediate {
            entry.immediate = { request, context in
                let params = try request.params(as: M.Params.self)
                guard let result = try immediate(params, context), let id = request.id else { return nil }
                return try RPCEncoding.success(id: id, encodedResult: result)
            }
        }
        entry.timer = metrics?.requestTimer(method: M.name)
        entries[M.name] = entry
    }

    /// Answers a frame without suspending when it is a request (with an id) of a method registered
    /// with an `immediate` handler that can answer now, with the same bytes `handle` would send;
    /// everything else (malformed frames, notifications, other methods, failures other than a
    /// `RequestError`) is `.deferred` to `handle`.
    public func handleImmediately(payload: Data, peer: PeerCredentials, mayMutate: Bool) -> ImmediateOutcome {
        guard let request = try? RPCInboundRequest.parse(payload), let id = request.id,
              let entry = entries[request.method], entry.access == .everyone, let immediate = entry.immediate else {
            return .deferred
        }
        let context = RequestContext(peer: peer, mayMutate: mayMutate, requestID: id, send: { _ in })
        let started = DispatchTime.now().uptimeNanoseconds
        do {
            guard let response = try immediate(request, context) else { return .deferred }
            entry.timer?.recordNanoseconds(DispatchTime.now().uptimeNanoseconds &- started)
            return .answered(response)
        } catch let error as any RequestError {
            let error = error.rpcError
            entry.timer?.recordNanoseconds(DispatchTime.now().uptimeNanoseconds &- started)
            metrics?.countError(error.code)
            return .answered(RPCEncoding.failure(id: id, error: error))
        } catch {
            return .deferred
        }
    }

    /// Names of the registered methods.
    public var methodNames: [String] { entries.keys.sorted() }

    /// Handles one frame's payload; returns the response payload, or nil for a notification
    /// (a request without an id gets no response, as JSON-RPC 2.0 requires).
    public func handle(
        payload: Data, peer: PeerCredentials, mayMutate: Bool,
        send: @escaping @Sendable (Data) async -> Void, logger: Logger
    ) async -> Data? {
        let request: RPCInboundRequest
        do {
            request = try RPCInboundRequest.parse(payload)
        } catch {
            logger.debug("rejected a request: \(error.error.message)", metadata: ["peer": "\(peer)"])
            metrics?.countError(error.error.code)
            return RPCEncoding.failure(id: error.id, error: error.error)
        }
        let reply: (any RequestError) -> Data? = { [metrics] error in
            let error = error.rpcError
            metrics?.countError(error.code)
            return request.id == nil ? nil : RPCEncoding.failure(id: request.id, error: error)
        }
        guard let entry = entries[request.method] else {
            return reply(ServerError(.methodNotFound, "no method '\(request.method)'; methods: \(methodNames.joined(separator: ", "))"))
        }
        if let why = entry.access.administratorsOnlyBecause, !mayMutate {
            logger.notice("refused \(request.method) to an unauthorised peer", metadata: ["peer": "\(peer)"])
            return reply(ServerError(
                .unauthorized,
                "\(request.method) \(why); uid \(peer.uid) is not root, not the daemon's user and not in its admin group"))
        }
        let context = RequestContext(peer: peer, mayMutate: mayMutate, requestID: request.id, send: send)
        let started = DispatchTime.now().uptimeNanoseconds
        defer { entry.timer?.recordNanoseconds(DispatchTime.now().uptimeNanoseconds &- started) }
        do {
            let response = try await entry.run(request, context)
            return request.id == nil ? nil : response
        } catch let error as any RequestError {
            return reply(error)
        } catch {
            logger.error("\(request.method) failed: \(error)", metadata: ["peer": "\(peer)"])
            return reply(ServerError(.failed, "\(request.method) failed: \(error)"))
        }
    }
}

/// Who may call a method. Peers that may mutate (root, the daemon's uid, the admin group) may call
/// every method; other peers only those open to `everyone`.
enum MethodAccess: Sendable, Hashable {
    /// Every peer that can open the socket: the reads of names, versions, hashes, verdicts, routes.
    case everyone
    /// Only peers that may mutate: the method changes the daemon's state.
    case mutating
    /// Only peers that may mutate, though nothing changes: the method hands out a served adapter's
    /// weights, the operator's assets, which other peers cannot open on disk (the state directory is 0700).
    case servedWeights

    init<M: RPCMethod>(_ method: M.Type) {
        if M.mutates {
            self = .mutating
        } else if M.name == Methods.Export.name {
            self = .servedWeights
        } else {
            self = .everyone
        }
    }

    /// What the refusal of a peer that may not mutate says the method does; nil when every peer may call it.
    var administratorsOnlyBecause: String? {
        switch self {
        case .everyone: nil
        case .mutating: "changes the daemon's state"
        case .servedWeights: "hands out a served adapter's weights"
        }
    }
}
