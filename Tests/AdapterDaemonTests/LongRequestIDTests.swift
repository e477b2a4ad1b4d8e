@testable import AdapterDaemon
import AdapterProtocol
import AdapterdTestSupport
import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing

/// Request ids of any length, as any peer may send them: a number that fits Int64 is echoed, a
/// longer one is `invalid request` with id null (what JSONDecoder makes of it), and the server is
/// still there for the next request. An id of 19 or more digits used to overflow the read fast
/// path's scanner and trap the daemon.
@Suite("Long request ids", .serialized)
struct LongRequestIDTests {
    /// (id as written, the id the response must carry: nil for id null with `invalid request`).
    static let ids: [(String, Int64?)] = [
        ("123456789012345678", 123_456_789_012_345_678),
        ("1234567890123456789", 1_234_567_890_123_456_789),
        ("9223372036854775807", Int64.max),
        ("-9223372036854775808", Int64.min),
        ("9223372036854775808", nil),
        ("9999999999999999999", nil),
        ("-9999999999999999999", nil),
        ("1234567890123456789012345", nil),
        (String(repeating: "9", count: 400), nil),
        ("-" + String(repeating: "1", count: 400), nil),
    ]

    static func status(id: String) -> String { #"{"jsonrpc":"2.0","id":\#(id),"method":"status"}"# }
    static func route(id: String) -> String { #"{"jsonrpc":"2.0","id":\#(id),"method":"route","params":{"task":"a"}}"# }

    /// The method table alone, frame by frame, as the event loop's fast path and the connection's
    /// task call it.
    @Test(arguments: ids)
    func theMethodTableAnswersEveryID(id: String, echoed: Int64?) async throws {
        let table = ReadFastPathTests.methods(immediateStatuses: NIOLockedValueBox(0))
        let peer = PeerCredentials(pid: 1, uid: 1000, gid: 1000)
        for request in [Self.status(id: id), Self.route(id: id)] {
            let payload = Data(request.utf8)
            let handled = try #require(await table.handle(payload: payload, peer: peer, mayMutate: false,
                                                          send: { _ in }, logger: Logger(label: "t")))
            let message = try #require(try JSONSerialization.jsonObject(with: handled) as? [String: Any])
            if let echoed {
                #expect((message["id"] as? NSNumber)?.int64Value == echoed)
                #expect(message["result"] != nil)
                guard case .answered(let immediate) = table.handleImmediately(payload: payload, peer: peer, mayMutate: false) else {
                    Issue.record("not answered on the fast path: \(request)")
                    continue
                }
                #expect(immediate == handled)
            } else {
                #expect(message["id"] is NSNull)
                #expect(message.errorCode == RPCErrorCode.invalidRequest.rawValue)
                // Nothing to answer on the event loop: the connection's task sends the error.
                guard case .deferred = table.handleImmediately(payload: payload, peer: peer, mayMutate: false) else {
                    Issue.record("answered on the fast path: \(request)")
                    continue
                }
            }
        }
    }

    /// The real server on a socket, by a peer that may not mutate: every long id is answered, and the
    /// same connection then serves an ordinary request.
    @Test func theServerAnswersLongIDsAndStaysUsable() async throws {
        let (server, task, directory) = try await ReadFastPathTests.start(
            ReadFastPathTests.methods(immediateStatuses: NIOLockedValueBox(0)))
        let socket = try RawSocket(path: directory.path + "/s.sock")
        for (id, echoed) in Self.ids {
            for request in [Self.status(id: id), Self.route(id: id)] {
                try socket.sendFrame(request)
                let message = try #require(await ReadFastPathTests.receive(socket), "no answer to \(request)")
                if let echoed {
                    #expect((message["id"] as? NSNumber)?.int64Value == echoed)
                    #expect(message["result"] != nil)
                } else {
                    #expect(message["id"] is NSNull)
                    #expect(message.errorCode == RPCErrorCode.invalidRequest.rawValue)
                }
            }
            try socket.sendFrame(#"{"jsonrpc":"2.0","id":7,"method":"route","params":{"task":"b"}}"#)
            let next = try #require(await ReadFastPathTests.receive(socket))
            #expect(next["id"] as? Int == 7)
            #expect(next["result"] != nil)
        }
        // A second connection is served too: the process is alive.
        let other = try RawSocket(path: directory.path + "/s.sock")
        try other.sendFrame(Self.status(id: "8"))
        #expect(try #require(await ReadFastPathTests.receive(other))["id"] as? Int == 8)
        server.shutDown()
        try await task.value
        directory.cleanup()
    }
}
