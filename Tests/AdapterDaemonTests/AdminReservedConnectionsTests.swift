@testable import AdapterDaemon
import AdapterProtocol
import AdapterdTestSupport
import Foundation
import Testing

/// Connections reserved for administrators: readers of several uids together cannot take every
/// connection slot (`admin-reserved-connections`), on top of the per-uid share.
@Suite("admin-reserved connections", .serialized)
struct AdminReservedConnectionsTests {
    typealias Peer = ConnectionAdmission.Peer

    @Test func readersOfManyUIDsTogetherLeaveTheReservedSlotsToAdministrators() {
        let admission = ConnectionAdmission(maximum: 10, reservedForAdministrators: 3, perUserLimit: 4)
        var open: [Peer] = []
        // Seven readers, each of its own uid: every one within its share; together they reach 10 - 3.
        for uid in UInt32(1001)...1007 {
            let reader = Peer(uid: uid, mayMutate: false)
            #expect(admission.refusal(of: reader, open: open) == nil, "reader \(uid)")
            open.append(reader)
        }
        // An eighth reader, of a new uid or of one already connected, is refused: the rest is reserved.
        #expect(admission.refusal(of: Peer(uid: 1008, mayMutate: false), open: open) == .reservedForAdministrators(unprivilegedLimit: 7))
        #expect(admission.refusal(of: Peer(uid: 1001, mayMutate: false), open: open) == .reservedForAdministrators(unprivilegedLimit: 7))
        // Administrators get the three reserved slots, then the server is full for everyone.
        for uid: UInt32 in [0, 0, 998] {
            let admin = Peer(uid: uid, mayMutate: true)
            #expect(admission.refusal(of: admin, open: open) == nil)
            open.append(admin)
        }
        #expect(admission.refusal(of: Peer(uid: 0, mayMutate: true), open: open) == .full)
        #expect(admission.refusal(of: Peer(uid: 1009, mayMutate: false), open: open) == .full)
    }

    @Test func administratorsMayUseEverySlotAndOneReaderStillMeetsItsShareFirst() {
        let admission = ConnectionAdmission(maximum: 6, reservedForAdministrators: 2, perUserLimit: 2)
        let readers = [Peer(uid: 42, mayMutate: false), Peer(uid: 42, mayMutate: false)]
        // The reader's own share is the reason given while it is the tighter limit.
        #expect(admission.refusal(of: Peer(uid: 42, mayMutate: false), open: readers) == .userFull(limit: 2))
        // Administrators are limited only by the maximum, whoever holds the other slots.
        let admins = Array(repeating: Peer(uid: 0, mayMutate: true), count: 4)
        #expect(admission.refusal(of: Peer(uid: 0, mayMutate: true), open: admins + readers.prefix(1)) == nil)
        #expect(admission.refusal(of: Peer(uid: 43, mayMutate: false), open: admins) == nil)
        #expect(admission.refusal(of: Peer(uid: 0, mayMutate: true), open: admins + readers) == .full)
        // No reservation: readers may take every slot (the former behaviour, still available).
        let open = ConnectionAdmission(maximum: 2, reservedForAdministrators: 0)
        #expect(open.refusal(of: Peer(uid: 7, mayMutate: false), open: [Peer(uid: 8, mayMutate: false)]) == nil)
    }

    @Test func theSettingParsesValidatesAndReachesTheServer() throws {
        #expect(DaemonSettings().adminReservedConnections == 4)
        let settings = try ConfigurationFile.parse("max-connections = 10\nadmin-reserved-connections = 3")
        #expect(settings.adminReservedConnections == 3)
        #expect(ServerLimits(settings: settings).adminReservedConnections == 3)
        for (text, fragment) in [("admin-reserved-connections = -1", "admin-reserved-connections (-1)"),
                                 ("max-connections = 4\nadmin-reserved-connections = 4", "less than max-connections (4)"),
                                 ("max-connections = 2", "admin-reserved-connections (4)"),
                                 ("admin-reserved-connections = some", "not an integer")] {
            let error = #expect(throws: ConfigurationError.self) { _ = try ConfigurationFile.parse(text) }
            #expect(error.map { "\($0)".contains(fragment) } == true, "\(String(describing: error))")
        }
        #expect(try ConfigurationFile.parse("max-connections = 1\nadmin-reserved-connections = 0").adminReservedConnections == 0)
    }

    /// Runs `/usr/bin/python3` as `uid` (setpriv): opens `count` connections to `socket`, sends
    /// `status` on each, and reports the outcome of each as a line of JSON; then holds them until
    /// `release` exists.
    final class Holder: @unchecked Sendable {
        let process = Process()
        let output = Pipe()

        static let script = """
            import json, os, socket, struct, sys, time
            held, outcomes = [], []
            for i in range(int(sys.argv[2])):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(10); s.connect(sys.argv[1])
                p = json.dumps({"jsonrpc": "2.0", "id": i, "method": "status"}).encode()
                try:
                    s.sendall(struct.pack(">I", len(p)) + p)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # a refused connection is answered and closed at once; its error is still readable
                n = struct.unpack(">I", s.recv(4, socket.MSG_WAITALL))[0]
                m = json.loads(s.recv(n, socket.MSG_WAITALL))
                outcomes.append("served" if "result" in m else m["error"]["message"])
                held.append(s)
            print(json.dumps(outcomes), flush=True)
            deadline = time.time() + 30
            while not os.path.exists(sys.argv[3]) and time.time() < deadline: time.sleep(0.05)
            """

        init(uid: UInt32, count: Int, socket: String, scriptPath: String, release: String) throws {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "/usr/bin/python3", scriptPath,
                                 socket, "\(count)", release]
            process.standardOutput = output
            try process.run()
        }

        /// The outcome of each connection: "served", or the error message it was refused with.
        func outcomes() throws -> [String] {
            var data = Data()
            while !data.contains(UInt8(ascii: "\n")) {
                let chunk = output.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                data += chunk
            }
            return try #require(try JSONSerialization.jsonObject(with: data) as? [String], "\(String(decoding: data, as: UTF8.self))")
        }

        func wait() { process.waitUntilExit() }
    }

    /// Runs blocking socket and pipe reads on a thread of their own: blocking a thread of the
    /// cooperative pool (two on two cores) would stall the server's request tasks and other tests.
    static func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }

    /// A connection of this process, kept open, and what its `status` request got.
    final class HeldConnection: @unchecked Sendable {
        let socket: RawSocket
        let served: Bool
        let errorCode: Int?
        let message: String?

        /// Opens a connection and asks for `status` (on a thread of its own: `blocking`).
        static func open(_ path: String, id: Int) async throws -> HeldConnection {
            try await blocking {
                let socket = try RawSocket(path: path)
                try? socket.sendFrame(#"{"jsonrpc":"2.0","id":\#(id),"method":"status"}"#)
                return HeldConnection(socket: socket, reply: socket.receiveMessage())
            }
        }

        init(socket: RawSocket, reply: [String: Any]?) {
            self.socket = socket
            served = reply?["result"] != nil
            errorCode = reply?.errorCode
            message = (reply?["error"] as? [String: Any])?["message"] as? String
        }
    }

    /// This process (root) is the administrator; uids 4242, 4243 and 4244 are readers.
    @Test(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")
                       && FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"),
                   "needs root, setpriv and /usr/bin/python3 to connect as other uids"))
    func readersOfSeveralUIDsFillTheServerAndAnAdministratorStillConnects() async throws {
        let running = try await RPCServerTests.start(limits: ServerLimits(
            maxConnections: 6, maxFrameBytes: 4096, maxReadOnlyFrameBytes: 1024, idleTimeout: .seconds(60),
            maxConnectionsPerUser: 2, adminReservedConnections: 2))
        chmod(running.directory.path, 0o755)
        chmod(running.socket, 0o666)
        let scriptPath = running.directory.path + "/hold.py"
        try Holder.script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        chmod(scriptPath, 0o644)
        let release = running.directory.path + "/release"
        defer { _ = FileManager.default.createFile(atPath: release, contents: nil) }

        // uid 4242 asks for 3: its share is 2. uid 4243 takes 2 more: readers now hold 6 - 2.
        let first = try Holder(uid: 4242, count: 3, socket: running.socket, scriptPath: scriptPath, release: release)
        let firstOutcomes = try await Self.blocking { try first.outcomes() }
        #expect(firstOutcomes.prefix(2) == ["served", "served"], "\(firstOutcomes)")
        #expect(firstOutcomes.last?.contains("max-connections-per-user") == true, "\(firstOutcomes)")
        let second = try Holder(uid: 4243, count: 2, socket: running.socket, scriptPath: scriptPath, release: release)
        #expect(try await Self.blocking { try second.outcomes() } == ["served", "served"])
        // A third reader uid, within its own share, is refused: the last 2 slots are the administrators'.
        let third = try Holder(uid: 4244, count: 2, socket: running.socket, scriptPath: scriptPath, release: release)
        let thirdOutcomes = try await Self.blocking { try third.outcomes() }
        #expect(thirdOutcomes.count == 2 && thirdOutcomes.allSatisfy { $0.contains("reserved for administrators (admin-reserved-connections)") },
                "\(thirdOutcomes)")

        // The administrator connects twice while the readers hold their connections; then the server is full.
        var admins: [HeldConnection] = []
        for id in 1...2 {
            let admin = try await HeldConnection.open(running.socket, id: id)
            #expect(admin.served, "administrator connection \(id): \(admin.message ?? "no answer")")
            admins.append(admin)
        }
        let over = try await HeldConnection.open(running.socket, id: 3)
        #expect(over.errorCode == RPCErrorCode.busy.rawValue)
        #expect(over.message?.contains("has 6 connections open") == true, "\(over.message ?? "no answer")")
        #expect(running.server.connectionCount == 6)

        _ = FileManager.default.createFile(atPath: release, contents: nil)
        try await Self.blocking { for holder in [first, second, third] { holder.wait() } }
        admins.removeAll()
        try await running.stop()
    }
}
