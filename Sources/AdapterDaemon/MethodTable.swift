import AdapterProtocol
import Foundation
import Logging

/// Maps method names to typed handlers and turns every outcome into a response payload:
/// authorisation of mutating methods, params decoding, and errors as JSON-RPC error objects.
public struct MethodTable: Sendable {
    struct Entry: Sendable {
        let mutates: Bool
        let run: @Sendable (RPCInboundRequest, RequestContext) async throws -> Data
    }

    private var entries: [String: Entry] = [:]

    public init() {}

    /// Registers the handler of `method`.
    public mutating func register<M: RPCMethod>(
        _ method: M.Type, _ body: @escaping @Sendable (M.Params, RequestContext) async throws -> M.Result
    ) {
        entries[M.name] = Entry(mutates: M.mutates) { request, context in
            let params = try request.params(as: M.Params.self)
            let result = try await body(params, context)
            guard let id = request.id else { return Data() }
            return try RPCEncoding.success(id: id, result: result)
        }
    }

    /// Registers the handler of `method` whose result comes already encoded as JSON text (the bytes
    /// `JSONCoding.encoder` gives for an `M.Result`), e.g. from a cache of the read snapshot.
    public mutating func registerEncoded<M: RPCMethod>(
        _ method: M.Type, _ body: @escaping @Sendable (M.Params, RequestContext) async throws -> Data
    ) {
        entries[M.name] = Entry(mutates: M.mutates) { request, context in
            let params = try request.params(as: M.Params.self)
            let result = try await body(params, context)
            guard let id = request.id else { return Data() }
            return try RPCEncoding.success(id: id, encodedResult: result)
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
            return RPCEncoding.failure(id: error.id, error: error.error)
        }
        let reply: (RPCError) -> Data? = { error in
            request.id == nil ? nil : RPCEncoding.failure(id: request.id, error: error)
        }
        guard let entry = entries[request.method] else {
            return reply(RPCError(code: .methodNotFound, message: "no method '\(request.method)'; methods: \(methodNames.joined(separator: ", "))"))
        }
        if entry.mutates && !mayMutate {
            logger.notice("refused \(request.method) to an unauthorised peer", metadata: ["peer": "\(peer)"])
            return reply(RPCError(
                code: .unauthorized,
                message: "\(request.method) changes the daemon's state; uid \(peer.uid) is not root, not the daemon's user and not in its admin group"))
        }
        let context = RequestContext(peer: peer, mayMutate: mayMutate, requestID: request.id, send: send)
        do {
            let response = try await entry.run(request, context)
            return request.id == nil ? nil : response
        } catch let error as RPCError {
            return reply(error)
        } catch {
            logger.error("\(request.method) failed: \(error)", metadata: ["peer": "\(peer)"])
            return reply(RPCError(code: .internalError, message: "\(request.method) failed: \(error)"))
        }
    }
}
