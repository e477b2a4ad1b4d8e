@testable import AdapterDaemon
import AdapterProtocol
import AdapterdTestSupport
import Foundation
import Logging
import NIOCore
import Testing

/// The socket server with a small method table: framing limits, malformed input, idle and
/// connection limits, authorisation, graceful shutdown. Uses real Unix sockets.
@Suite("RPC server", .serialized)
struct RPCServerTests {
    /// Methods for the tests: `echo` returns its params, `slow` sleeps then answers, `install`
    /// (mutating) answers if allowed.
    static func methods() -> MethodTable {
        var table = MethodTable()
        table.register(Methods.Status.self) { _, context in
            StatusResult(daemon: "test", version: "0", protocolVersion: 1, pid: 0, uptimeSeconds: 0, socketActivated: false,
                         tasks: 0, generation: 0, budget: BudgetStatus(limit: .unlimited, servedBytes: 0, archiveBytes: 0),
                         quarantined: 0, detector: DetectorInfo(model: "none", threshold: 0.5), peer: context.peerInfo)
        }
        table.register(Methods.Route.self) { params, context in
            await context.progress(stage: "routing", fraction: 0.5, message: "half way")
            if params.task == "slow" { try await Task.sleep(for: .milliseconds(700)) }
            guard let task = params.task, task != "missing" else {
                throw RPCError(code: .notFound, message: "no task")
            }
            return RouteResult(task: task, version: 1, generation: 1,
                               adapter: ServedAdapter(id: "x", kind: "own", tasks: [task], bytes: 1, configPath: nil, weightsPath: nil))
        }
        table.register(Methods.Remove.self) { params, _ in
            RemoveResult(task: params.task, version: 1, generation: 2, budget: BudgetStatus(limit: .bytes(1), servedBytes: 0, archiveBytes: 0))
        }
        return table
    }

    struct Running {
        let server: RPCServer
        let task: Task<Void, Error>
        let directory: TemporaryDirectory
        var socket: String { directory.path + "/s.sock" }

        func stop() async throws {
            server.shutDown()
            try await task.value
            directory.cleanup()
        }
    }

    static func start(limits: ServerLimits = ServerLimits(maxConnections: 8, maxFrameBytes: 4096, maxReadOnlyFrameBytes: 1024,
                                                          idleTimeout: .seconds(30)),
                      policy: AccessPolicy? = nil) async throws -> Running {
        let directory = try TemporaryDirectory()
        let policy = try policy ?? AccessPolicy(daemonUID: getuid(), adminGroupName: nil)
        let server = RPCServer(address: .path(directory.path + "/s.sock"), limits: limits, policy: policy,
                               methods: methods(), logger: Logger(label: "test"))
        let task = Task { try await server.run() }
        try await server.waitUntilListening()
        return Running(server: server, task: task, directory: directory)
    }

    @Test func servesTypedCallsWithProgress() async throws {
        let running = try await Self.start()
        let client = try await AdapterdClient.connect(socketPath: running.socket)
        let stages = ProgressLog()
        let route = try await client.call(Methods.Route.self, RouteParams(task: "sum")) { stages.add($0.stage) }
        #expect(route.adapter.tasks == ["sum"])
        #expect(stages.all == ["routing"])
        let status = try await client.call(Methods.Status.self, NoParams())
        #expect(status.peer.uid == getuid())
        #expect(status.peer.pid == getpid())
        do {
            _ = try await client.call(Methods.Route.self, RouteParams(task: "missing"))
            Issue.record("expected not found")
        } catch let error as RPCError {
            #expect(error.code == .notFound)
        }
        await client.close()
        try await running.stop()
    }

    @Test func socketFileHasMode0660() async throws {
        let running = try await Self.start()
        var info = stat()
        #expect(stat(running.socket, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o660)
        try await running.stop()
        #expect(!FileManager.default.fileExists(atPath: running.socket))
    }

    @Test func malformedFramesGetErrorsAndTheConnectionStaysUsable() async throws {
        let running = try await Self.start()
        let raw = try RawSocket(path: running.socket)
        try raw.sendFrame("{this is not json")
        #expect(raw.receiveMessage()?.errorCode == -32700)
        try raw.sendFrame(#"[{"jsonrpc":"2.0","id":1,"method":"status"}]"#)
        #expect(raw.receiveMessage()?.errorCode == -32600)
        try raw.sendFrame(#"{"jsonrpc":"2.0","id":2,"method":"nope"}"#)
        #expect(raw.receiveMessage()?.errorCode == -32601)
        try raw.sendFrame(#"{"jsonrpc":"2.0","id":3,"method":"route","params":{"task":12}}"#)
        #expect(raw.receiveMessage()?.errorCode == -32602)
        try raw.sendFrame(#"{"jsonrpc":"2.0","id":4,"method":"status"}"#)
        let ok = try #require(raw.receiveMessage())
        #expect(ok["result"] != nil)
        #expect(ok["id"] as? Int == 4)
        try await running.stop()
    }

    @Test func oversizedFrameIsRefusedAndTheConnectionClosedWhileOthersAreServed() async throws {
        let running = try await Self.start()
        let other = try await AdapterdClient.connect(socketPath: running.socket)
        let raw = try RawSocket(path: running.socket)
        // Announce 1 MiB to a server whose limit is 4 KiB: refused from the header alone.
        try raw.send([0x00, 0x10, 0x00, 0x00, 0x7B])
        let reply = try #require(raw.receiveMessage())
        #expect(reply.errorCode == RPCErrorCode.tooLarge.rawValue)
        #expect(reply["id"] is NSNull)
        #expect(raw.isClosedByPeer())
        _ = try await other.call(Methods.Status.self, NoParams())
        await other.close()
        try await running.stop()
    }

    @Test func adminPeersGetTheLargerFrameLimit() async throws {
        // This process may mutate (root or the daemon's uid), so a 2 KiB frame over the 1 KiB read-only
        // limit is accepted; the read-only limit is exercised end to end with an unprivileged client.
        let running = try await Self.start()
        let raw = try RawSocket(path: running.socket)
        let padding = String(repeating: "x", count: 2000)
        try raw.sendFrame(#"{"jsonrpc":"2.0","id":1,"method":"status","params":{"pad":"\#(padding)"}}"#)
        #expect(raw.receiveMessage()?["result"] != nil)
        try await running.stop()
    }

    @Test func truncatedFrameThenCloseDoesNotDisturbOthers() async throws {
        let running = try await Self.start()
        do {
            let raw = try RawSocket(path: running.socket)
            try raw.send([0x00, 0x00, 0x01, 0x00, 0x7B, 0x22])
        }
        let client = try await AdapterdClient.connect(socketPath: running.socket)
        _ = try await client.call(Methods.Status.self, NoParams())
        await client.close()
        try await running.stop()
    }

    @Test func silentClientIsDroppedAfterTheIdleTimeout() async throws {
        let running = try await Self.start(limits: ServerLimits(
            maxConnections: 8, maxFrameBytes: 4096, maxReadOnlyFrameBytes: 1024, idleTimeout: .milliseconds(300)))
        let slow = try RawSocket(path: running.socket, receiveTimeout: 5)
        try slow.send([0x00, 0x00, 0x00, 0x40, 0x7B])  // half a frame, then silence
        let client = try await AdapterdClient.connect(socketPath: running.socket)
        _ = try await client.call(Methods.Status.self, NoParams())
        #expect(slow.isClosedByPeer())
        await client.close()
        try await running.stop()
    }

    /// A request longer than the idle timeout is answered, and the client may ask again soon after.
    /// The second half was found by `adapterd-bench recluster` at N = 32: an install of 59.9 s under the
    /// 60 s idle timeout was answered, and the client's next request found the connection closed (idle
    /// was timed from the last read). Here: checks every 400 ms from the request, the answer at ~700 ms,
    /// the next request ~250 ms after it (before the idle timeout counted from the answer).
    @Test func busyRequestIsNotCutByTheIdleTimeoutNorItsClientJustAfter() async throws {
        let running = try await Self.start(limits: ServerLimits(
            maxConnections: 8, maxFrameBytes: 4096, maxReadOnlyFrameBytes: 1024, idleTimeout: .milliseconds(400)))
        let client = try await AdapterdClient.connect(socketPath: running.socket)
        let route = try await client.call(Methods.Route.self, RouteParams(task: "slow"))
        #expect(route.task == "slow")
        try await Task.sleep(for: .milliseconds(250))
        let again = try await client.call(Methods.Route.self, RouteParams(task: "fast"))
        #expect(again.task == "fast")
        await client.close()
        try await running.stop()
    }

    @Test func connectionsBeyondTheLimitAreAnsweredBusy() async throws {
        let running = try await Self.start(limits: ServerLimits(
            maxConnections: 2, maxFrameBytes: 4096, maxReadOnlyFrameBytes: 1024, idleTimeout: .seconds(30)))
        let first = try await AdapterdClient.connect(socketPath: running.socket)
        let second = try await AdapterdClient.connect(socketPath: running.socket)
        _ = try await first.call(Methods.Status.self, NoParams())
        _ = try await second.call(Methods.Status.self, NoParams())
        let third = try RawSocket(path: running.socket)
        let reply = try #require(third.receiveMessage())
        #expect(reply.errorCode == RPCErrorCode.busy.rawValue)
        await first.close()
        await second.close()
        try await running.stop()
    }

    @Test func gracefulShutdownAnswersTheRequestInProgress() async throws {
        let running = try await Self.start()
        let client = try await AdapterdClient.connect(socketPath: running.socket)
        let idle = try await AdapterdClient.connect(socketPath: running.socket)
        _ = try await idle.call(Methods.Status.self, NoParams())
        async let slow = client.call(Methods.Route.self, RouteParams(task: "slow"))
        try await Task.sleep(for: .milliseconds(200))
        running.server.shutDown()
        let answered = try await slow
        #expect(answered.task == "slow")
        try await running.task.value
        #expect(!FileManager.default.fileExists(atPath: running.socket))
        running.directory.cleanup()
        await client.close()
        await idle.close()
    }

    @Test func mutatingMethodsNeedAnAuthorisedPeer() async throws {
        let peer = PeerCredentials(pid: 1, uid: 4242, gid: 4242)
        let payload = Data(#"{"jsonrpc":"2.0","id":1,"method":"remove","params":{"task":"a"}}"#.utf8)
        let denied = await Self.methods().handle(payload: payload, peer: peer, mayMutate: false, send: { _ in },
                                                 logger: Logger(label: "t"))
        let deniedData = try #require(denied)
        let deniedObject = try #require(try JSONSerialization.jsonObject(with: deniedData) as? [String: Any])
        #expect(deniedObject.errorCode == RPCErrorCode.unauthorized.rawValue)
        let allowed = await Self.methods().handle(payload: payload, peer: peer, mayMutate: true, send: { _ in },
                                                  logger: Logger(label: "t"))
        let allowedData = try #require(allowed)
        let allowedObject = try #require(try JSONSerialization.jsonObject(with: allowedData) as? [String: Any])
        #expect(allowedObject["result"] != nil)
    }

    @Test func notificationsGetNoResponse() async throws {
        let payload = Data(#"{"jsonrpc":"2.0","method":"status"}"#.utf8)
        let response = await Self.methods().handle(payload: payload, peer: PeerCredentials(pid: 1, uid: 0, gid: 0),
                                                   mayMutate: true, send: { _ in }, logger: Logger(label: "t"))
        #expect(response == nil)
    }
}

/// Collects progress stages from a callback.
final class ProgressLog: @unchecked Sendable {
    private let lock = NSLock()
    private var stages: [String] = []
    func add(_ stage: String) { lock.withLock { stages.append(stage) } }
    var all: [String] { lock.withLock { stages } }
}
