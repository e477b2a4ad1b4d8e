import Foundation
import AdapterdTestSupport
import Testing
@testable import AdapterProtocol
#if canImport(Glibc)
import Glibc
#endif

/// The client against a peer that goes away: calls fail with `connectionClosed`, before and after
/// the client has noticed, and never trap (NIO traps on a dropped unfulfilled promise in debug builds,
/// which is how a call on an already closed connection used to end).
@Suite struct AdapterdClientTests {
    /// A Unix socket that accepts one connection and closes it at once (a daemon killed mid-call).
    final class ClosingListener: @unchecked Sendable {
        let path: String
        private let fd: Int32

        init() throws {
            path = FileManager.default.temporaryDirectory.path + "/adapterd-client-\(UUID().uuidString.prefix(8)).sock"
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            let bound = withUnixSocketAddress(path) { bind(fd, $0, $1) }
            guard bound == 0, listen(fd, 4) == 0 else { throw POSIXError(.EADDRINUSE) }
            let listener = fd
            Thread {
                let connection = accept(listener, nil, nil)
                if connection >= 0 { close(connection) }
            }.start()
        }

        deinit {
            close(fd)
            unlink(path)
        }
    }

    @Test func callsOnAConnectionThePeerClosedFailWithConnectionClosed() async throws {
        let listener = try ClosingListener()
        let client = try await AdapterdClient.connect(socketPath: listener.path)
        // The first call may be sent before the close is seen; later ones find the connection closed.
        for _ in 0..<5 {
            do {
                _ = try await client.call(Methods.Status.self, NoParams())
                Issue.record("a call on a closed connection returned a result")
            } catch let error as AdapterdClientError {
                #expect(error.code == .connectionClosed, "\(error)")
            }
        }
        await client.close()
        // And after the client closed it itself.
        await #expect(throws: AdapterdClientError.self) { try await client.call(Methods.Status.self, NoParams()) }
    }
}
