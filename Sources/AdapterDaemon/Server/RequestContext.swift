import AdapterProtocol
import Foundation

/// What a request handler knows about the request besides its params: who sent it, whether they may
/// mutate, and a way to report progress to the client.
public struct RequestContext: Sendable {
    public let peer: PeerCredentials
    public let mayMutate: Bool
    public let requestID: RPCID?
    private let send: @Sendable (Data) async -> Void

    public init(peer: PeerCredentials, mayMutate: Bool, requestID: RPCID?, send: @escaping @Sendable (Data) async -> Void) {
        self.peer = peer
        self.mayMutate = mayMutate
        self.requestID = requestID
        self.send = send
    }

    /// Sends a `progress` notification (only for requests with an id; notifications get no progress).
    public func progress(stage: String, fraction: Double, message: String) async {
        guard let requestID else { return }
        let params = ProgressParams(requestId: requestID, stage: stage, fraction: fraction, message: message)
        guard let data = try? RPCEncoding.notification(method: Notifications.progress, params: params) else { return }
        await send(data)
    }

    /// The peer as reported in `status`.
    public var peerInfo: PeerInfo {
        PeerInfo(uid: peer.uid, gid: peer.gid, pid: peer.pid, mayMutate: mayMutate)
    }
}
