@testable import AdapterDaemon
import AdapterProtocol
import AdapterdTestSupport
import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing

/// Reads answered on the event loop: same answers, and never ahead of an earlier request of the
/// same connection that is still running.
@Suite("Read fast path", .serialized)
struct ReadFastPathTests {
    /// `route` answers at once except for task "slow" (deferred, then 300 ms on the async path);
    /// `status` answers at once and counts how often it did.
    static func methods(immediateStatuses: NIOLockedValueBox<Int>) -> MethodTable {
        var table = MethodTable()
        let route: @Sendable (String) throws -> Data = { task in
            guard task != "missing" else { throw RPCError(code: .notFound, message: "no task '\(task)'") }
            return try JSONCoding.encoder.encode(RouteResult(
                task: task, version: 1, generation: 1,
                adapter: ServedAdapter(id: "x", kind: "own", tasks: [task], bytes: 1, configPath: nil, weightsPath: nil)))
        }
        table.registerEncoded(Methods.Route.self, immediate: { params, _ in
            params.task == "slow" ? nil : try route(params.task ?? "")
        }) { params, _ in
            if params.task == "slow" { try await Task.sleep(for: .milliseconds(300)) }
            return try route(params.task ?? "")
        }
        let status: @Sendable (RequestContext) throws -> Data = { context in
            try JSONCoding.encoder.encode(StatusResult(
                daemon: "test", version: "0", protocolVersion: 1, pid: 0, uptimeSeconds: 0, socketActivated: false,
                tasks: 0, generation: 0, budget: BudgetStatus(limit: .unlimited, servedBytes: 0, archiveBytes: 0),
                quarantined: 0, detector: DetectorInfo(model: "none", threshold: 0.5), peer: context.peerInfo))
        }
        table.registerEncoded(Methods.Status.self, immediate: { _, context in
            immediateStatuses.withLockedValue { $0 += 1 }
            return try status(context)
        }) { _, context in try status(context) }
        return table
    }

    /// Blocking socket work on a thread of its own, not on the cooperative pool (or dispatch's
    /// threads) the server's tasks need: suites run in parallel, and two blocked pool threads are all
    /// of a 2-core machine's.
    static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }

    struct Message: @unchecked Sendable { let value: [String: Any]? }

    static func receive(_ socket: RawSocket) async throws -> [String: Any]? {
        nonisolated(unsafe) let socket = socket
        return try await offPool { Message(value: socket.receiveMessage()) }.value
    }

    static func start(_ table: MethodTable) async throws -> (RPCServer, Task<Void, Error>, TemporaryDirectory) {
        let directory = try TemporaryDirectory()
        let server = RPCServer(
            address: .path(directory.path + "/s.sock"),
            limits: ServerLimits(maxConnections: 8, maxFrameBytes: 4096, maxReadOnlyFrameBytes: 1024, idleTimeout: .seconds(30)),
            policy: try AccessPolicy(daemonUID: getuid(), adminGroupName: nil), methods: table, logger: Logger(label: "test"))
        let task = Task { try await server.run() }
        try await server.waitUntilListening()
        return (server, task, directory)
    }

    @Test func answersStayInOrderBehindARequestStillRunning() async throws {
        let immediateStatuses = NIOLockedValueBox(0)
        let (server, task, directory) = try await Self.start(Self.methods(immediateStatuses: immediateStatuses))
        let socket = try RawSocket(path: directory.path + "/s.sock")
        // Sent together: the slow route is handed to the connection's task; the two reads after it
        // must wait for it, not overtake it.
        try socket.sendFrame(#"{"jsonrpc":"2.0","id":1,"method":"route","params":{"task":"slow"}}"#)
        try socket.sendFrame(#"{"jsonrpc":"2.0","id":2,"method":"status"}"#)
        try socket.sendFrame(#"{"jsonrpc":"2.0","id":3,"method":"route","params":{"task":"a"}}"#)
        var ids: [Int] = []
        for _ in 0..<3 {
            let message = try #require(await Self.receive(socket))
            #expect(message["result"] != nil)
            ids.append(try #require(message["id"] as? Int))
        }
        #expect(ids == [1, 2, 3])
        #expect(immediateStatuses.withLockedValue { $0 } == 0)

        // Nothing running: answered on the event loop, errors included.
        try socket.sendFrame(#"{"jsonrpc":"2.0","id":4,"method":"status"}"#)
        let status = try #require(await Self.receive(socket))
        #expect(status["id"] as? Int == 4)
        #expect(((status["result"] as? [String: Any])?["peer"] as? [String: Any])?["uid"] as? Int == Int(getuid()))
        #expect(immediateStatuses.withLockedValue { $0 } == 1)
        try socket.sendFrame(#"{"jsonrpc":"2.0","id":5,"method":"route","params":{"task":"missing"}}"#)
        let missing = try #require(await Self.receive(socket))
        #expect(missing["id"] as? Int == 5)
        #expect(missing.errorCode == RPCErrorCode.notFound.rawValue)
        // A malformed frame still gets the async path's answer, and the connection goes on.
        try socket.sendFrame(#"{"jsonrpc":"2.0","id":6,"method":"route","params":{"task":"a"}"#)
        #expect(try #require(await Self.receive(socket)).errorCode == RPCErrorCode.parseError.rawValue)
        try socket.sendFrame(#"{"jsonrpc":"2.0","id":7,"method":"route","params":{"task":"b"}}"#)
        #expect(try #require(await Self.receive(socket))["id"] as? Int == 7)

        server.shutDown()
        try await task.value
        directory.cleanup()
    }

    @Test func immediateAnswersAreTheBytesOfTheAsyncPath() async throws {
        let table = Self.methods(immediateStatuses: NIOLockedValueBox(0))
        let peer = PeerCredentials(pid: 1, uid: 1000, gid: 1000)
        for request in [#"{"jsonrpc":"2.0","id":1,"method":"route","params":{"task":"a"}}"#,
                        #"{"jsonrpc":"2.0","id":"x","method":"route","params":{"task":"missing"}}"#,
                        #"{"jsonrpc":"2.0","id":2,"method":"status"}"#] {
            let payload = Data(request.utf8)
            guard case .answered(let immediate) = table.handleImmediately(payload: payload, peer: peer, mayMutate: false) else {
                Issue.record("not answered immediately: \(request)")
                continue
            }
            let handled = await table.handle(payload: payload, peer: peer, mayMutate: false, send: { _ in }, logger: Logger(label: "t"))
            #expect(immediate == handled)
        }
        // Deferred: notifications, malformed frames, handlers that cannot answer now, unknown methods.
        for request in [#"{"jsonrpc":"2.0","method":"status"}"#, "{", #"{"jsonrpc":"2.0","id":1,"method":"route","params":{"task":"slow"}}"#,
                        #"{"jsonrpc":"2.0","id":1,"method":"nope"}"#] {
            guard case .deferred = table.handleImmediately(payload: Data(request.utf8), peer: peer, mayMutate: false) else {
                Issue.record("answered immediately: \(request)")
                continue
            }
        }
    }
}
