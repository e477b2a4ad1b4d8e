import NIOConcurrencyHelpers
import NIOCore

/// The open connections of a server, which of them are handling a request, and whether the server
/// is shutting down. Graceful shutdown closes idle connections at once and lets busy ones finish
/// their request first. New connections are admitted by a `ConnectionAdmission`.
final class ConnectionRegistry: Sendable {
    private struct Entry {
        let channel: Channel
        let peer: ConnectionAdmission.Peer
        var busy: Bool
    }

    /// Why a connection was not admitted.
    enum Refusal: Sendable, Hashable {
        /// `maximum` connections are open.
        case full
        /// This uid already holds its per-user share.
        case userFull(limit: Int)
        /// Peers that may not mutate hold every connection not reserved for administrators.
        case reservedForAdministrators(unprivilegedLimit: Int)
        case shuttingDown
    }

    private struct State {
        var nextID = 0
        var entries: [Int: Entry] = [:]
        var shuttingDown = false
    }

    private let state = NIOLockedValueBox(State())
    let admission: ConnectionAdmission

    init(admission: ConnectionAdmission) {
        self.admission = admission
    }

    /// Adds a connection; returns its id, or nil when the server is full or shutting down.
    func add(_ channel: Channel) -> Int? {
        if case .success(let id) = add(channel, uid: 0, mayMutate: true) { return id }
        return nil
    }

    /// Adds a connection of `uid` (allowed to mutate or not) if `admission` admits it; returns its
    /// id, or why it was refused.
    func add(_ channel: Channel, uid: UInt32, mayMutate: Bool) -> Result<Int, RefusalError> {
        state.withLockedValue { state in
            guard !state.shuttingDown else { return .failure(RefusalError(refusal: .shuttingDown)) }
            let peer = ConnectionAdmission.Peer(uid: uid, mayMutate: mayMutate)
            if let refusal = admission.refusal(of: peer, open: state.entries.values.lazy.map(\.peer)) {
                return .failure(RefusalError(refusal: refusal))
            }
            state.nextID += 1
            state.entries[state.nextID] = Entry(channel: channel, peer: peer, busy: false)
            return .success(state.nextID)
        }
    }

    /// A `Refusal` as an error, for `Result`.
    struct RefusalError: Error, Sendable, Hashable {
        let refusal: Refusal
    }

    func remove(_ id: Int) {
        _ = state.withLockedValue { $0.entries.removeValue(forKey: id) }
    }

    /// Marks a connection busy; false when the server is shutting down (the request must be declined).
    func beginRequest(_ id: Int) -> Bool {
        state.withLockedValue { state in
            guard !state.shuttingDown else { return false }
            state.entries[id]?.busy = true
            return true
        }
    }

    /// Marks a connection idle; true when it should now close because the server is shutting down.
    func endRequest(_ id: Int) -> Bool {
        state.withLockedValue { state in
            state.entries[id]?.busy = false
            return state.shuttingDown
        }
    }

    func isBusy(_ id: Int) -> Bool {
        state.withLockedValue { $0.entries[id]?.busy ?? false }
    }

    var count: Int { state.withLockedValue { $0.entries.count } }

    /// Starts the shutdown: no new connections or requests; idle connections are closed now.
    func shutDown() {
        let idle = state.withLockedValue { state -> [Channel] in
            state.shuttingDown = true
            return state.entries.values.filter { !$0.busy }.map(\.channel)
        }
        for channel in idle { channel.close(promise: nil) }
    }
}

/// Which new connections a server admits: at most `maximum` in all; of them at most
/// `maximum - reservedForAdministrators` held by peers that may not mutate, so that readers of any
/// number of uids cannot lock administrators out; and at most `perUserLimit` held by one uid that
/// may not mutate, so that one reader cannot lock out the others. Peers that may mutate are limited
/// by `maximum` only.
struct ConnectionAdmission: Sendable, Hashable {
    /// Who holds or asks for a connection.
    struct Peer: Sendable, Hashable {
        let uid: UInt32
        let mayMutate: Bool
    }

    let maximum: Int
    let reservedForAdministrators: Int
    let perUserLimit: Int?

    init(maximum: Int, reservedForAdministrators: Int = 0, perUserLimit: Int? = nil) {
        self.maximum = maximum
        self.reservedForAdministrators = max(0, min(reservedForAdministrators, maximum))
        self.perUserLimit = perUserLimit
    }

    /// Connections peers that may not mutate may hold together.
    var unprivilegedLimit: Int { maximum - reservedForAdministrators }

    /// Why `peer`'s new connection is refused while `open` connections are held, or nil to admit it.
    func refusal(of peer: Peer, open: some Sequence<Peer>) -> ConnectionRegistry.Refusal? {
        var total = 0, unprivileged = 0, ofUID = 0
        for holder in open {
            total += 1
            if !holder.mayMutate {
                unprivileged += 1
                if holder.uid == peer.uid { ofUID += 1 }
            }
        }
        guard total < maximum else { return .full }
        guard !peer.mayMutate else { return nil }
        if let perUserLimit, ofUID >= perUserLimit { return .userFull(limit: perUserLimit) }
        guard unprivileged < unprivilegedLimit else { return .reservedForAdministrators(unprivilegedLimit: unprivilegedLimit) }
        return nil
    }
}

/// Closes a connection on which nothing was read or written for the idle timeout while no request is
/// handled (a client that stops mid-frame, or never sends anything). Counting the answers written
/// keeps a client that asks again soon after a long request's answer.
final class IdleConnectionCloser: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let isBusy: @Sendable () -> Bool

    init(isBusy: @escaping @Sendable () -> Bool) {
        self.isBusy = isBusy
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .all, !isBusy() {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
