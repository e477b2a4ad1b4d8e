import NIOConcurrencyHelpers
import NIOCore

/// The open connections of a server, which of them are handling a request, and whether the server
/// is shutting down. Graceful shutdown closes idle connections at once and lets busy ones finish
/// their request first.
final class ConnectionRegistry: Sendable {
    private struct Entry {
        let channel: Channel
        let uid: UInt32
        var busy: Bool
    }

    /// Why a connection was not admitted.
    enum Refusal: Sendable, Hashable {
        /// `maximum` connections are open.
        case full
        /// This uid already holds its per-user share.
        case userFull(limit: Int)
        case shuttingDown
    }

    private struct State {
        var nextID = 0
        var entries: [Int: Entry] = [:]
        var shuttingDown = false
    }

    private let state = NIOLockedValueBox(State())
    let maximum: Int

    init(maximum: Int) {
        self.maximum = maximum
    }

    /// Adds a connection; returns its id, or nil when the server is full or shutting down.
    func add(_ channel: Channel) -> Int? {
        if case .success(let id) = add(channel, uid: 0, perUserLimit: nil) { return id }
        return nil
    }

    /// Adds a connection of `uid`, which may hold at most `perUserLimit` connections (nil: no share
    /// limit); returns its id, or why it was refused.
    func add(_ channel: Channel, uid: UInt32, perUserLimit: Int?) -> Result<Int, RefusalError> {
        state.withLockedValue { state in
            guard !state.shuttingDown else { return .failure(RefusalError(refusal: .shuttingDown)) }
            guard state.entries.count < maximum else { return .failure(RefusalError(refusal: .full)) }
            if let perUserLimit, state.entries.values.lazy.filter({ $0.uid == uid }).count >= perUserLimit {
                return .failure(RefusalError(refusal: .userFull(limit: perUserLimit)))
            }
            state.nextID += 1
            state.entries[state.nextID] = Entry(channel: channel, uid: uid, busy: false)
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

/// Closes a connection that has been silent for the idle timeout while not handling a request
/// (a client that stops mid-frame, or never sends anything).
final class IdleConnectionCloser: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let isBusy: @Sendable () -> Bool

    init(isBusy: @escaping @Sendable () -> Bool) {
        self.isBusy = isBusy
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read, !isBusy() {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
