import AdapterCore
@testable import AdapterDaemon
import AdapterProtocol
import AdapterdTestSupport
import Foundation
import Logging
import NIOCore
import Testing

/// Resource limits against slow and stuck clients (slowloris): a frame trickled byte by byte is cut
/// by the request timeout, connection slots held by idle clients are reclaimed, and the limit keys of
/// the configuration file parse, validate and reach the server and the install path.
@Suite("resource limits", .serialized)
struct LimitsTests {
    @Test func aFrameTrickledFasterThanTheIdleTimeoutIsCutByTheRequestTimeout() async throws {
        let running = try await RPCServerTests.start(limits: ServerLimits(
            maxConnections: 8, maxFrameBytes: 4096, maxReadOnlyFrameBytes: 1024, idleTimeout: .milliseconds(1500),
            requestTimeout: .seconds(2)))
        let trickler = try RawSocket(path: running.socket, receiveTimeout: 0.5)
        try trickler.send([0x00, 0x00, 0x00, 0x40])  // announces 64 bytes
        let start = Date()
        var closed = false
        // One byte every 500 ms: never silent for the idle timeout, never finishing the frame.
        for _ in 0..<30 {
            if trickler.isClosedByPeer() {
                closed = true
                break
            }
            try? trickler.send([0x20])
        }
        let elapsed = Date().timeIntervalSince(start)
        #expect(closed, "the trickling client was never disconnected")
        #expect(elapsed < 8, "disconnected only after \(elapsed) s")
        // Others are served meanwhile and afterwards.
        let client = try await AdapterdClient.connect(socketPath: running.socket)
        _ = try await client.call(Methods.Status.self, NoParams())
        await client.close()
        try await running.stop()
    }

    @Test func aFrameSentInPiecesWithinTheRequestTimeoutIsServed() async throws {
        let running = try await RPCServerTests.start(limits: ServerLimits(
            maxConnections: 8, maxFrameBytes: 4096, maxReadOnlyFrameBytes: 1024, idleTimeout: .seconds(5),
            requestTimeout: .seconds(2)))
        let socket = try RawSocket(path: running.socket, receiveTimeout: 5)
        let payload = Array(#"{"jsonrpc":"2.0","id":9,"method":"status"}"#.utf8)
        let frame = withUnsafeBytes(of: UInt32(payload.count).bigEndian) { Array($0) } + payload
        for piece in [frame[0..<2], frame[2..<10], frame[10...]] {
            try socket.send(Array(piece))
            try await Task.sleep(for: .milliseconds(150))
        }
        let reply = try #require(socket.receiveMessage())
        #expect(reply["id"] as? Int == 9)
        #expect(reply["result"] != nil)
        // A second frame on the same connection gets a fresh deadline.
        try await Task.sleep(for: .milliseconds(300))
        try socket.sendFrame(#"{"jsonrpc":"2.0","id":10,"method":"status"}"#)
        #expect(socket.receiveMessage()?["id"] as? Int == 10)
        try await running.stop()
    }

    @Test func slotsHeldByIdleClientsAreReclaimedAfterTheIdleTimeout() async throws {
        let running = try await RPCServerTests.start(limits: ServerLimits(
            maxConnections: 3, maxFrameBytes: 4096, maxReadOnlyFrameBytes: 1024, idleTimeout: .milliseconds(1500)))
        // A stuck client opens every slot and sends nothing (one of them half a header).
        let holders = try (0..<3).map { _ in try RawSocket(path: running.socket, receiveTimeout: 10) }
        try holders[0].send([0x00, 0x00])
        try await Task.sleep(for: .milliseconds(250))  // the server admits them (reads their credentials)
        let refused = try RawSocket(path: running.socket)
        #expect(refused.receiveMessage()?.errorCode == RPCErrorCode.busy.rawValue)
        for holder in holders { #expect(holder.isClosedByPeer()) }
        let client = try await AdapterdClient.connect(socketPath: running.socket)
        let status = try await client.call(Methods.Status.self, NoParams())
        #expect(status.daemon == "test")
        #expect(running.server.connectionCount == 1)
        await client.close()
        try await running.stop()
    }

    @Test func theLimitKeysParseValidateAndReachTheServer() throws {
        let settings = try ConfigurationFile.parse("""
            max-connections = 40
            max-connections-per-user = 5
            request-timeout = 30s
            idle-timeout = 20
            max-examples = 50
            max-examples-size = 1MiB
            max-adapter-size = 64MiB
            max-read-only-request = 256KiB
            """)
        #expect(settings.maxConnectionsPerUser == 5)
        #expect(settings.requestTimeoutSeconds == 30)
        #expect(settings.maxExamples == 50)
        #expect(settings.examplesLimits.maxExamples == 50)
        let limits = ServerLimits(settings: settings)
        #expect(limits.maxConnections == 40)
        #expect(limits.maxConnectionsPerUser == 5)
        #expect(limits.requestTimeout == .seconds(30))
        #expect(limits.idleTimeout == .seconds(20))
        #expect(limits.maxReadOnlyFrameBytes == 256 * 1024)
        // The mutating frame limit follows the adapter and examples limits.
        let mebibyte = 1024 * 1024
        let base64Adapter: Int = (64 * mebibyte + 2) / 3 * 4
        let expectedFrame: Int = base64Adapter + 3 * mebibyte
        #expect(limits.maxFrameBytes == expectedFrame)
        // Huge timeouts saturate instead of overflowing.
        #expect(ServerLimits.timeAmount(seconds: 1e300) == .nanoseconds(Int64.max))

        for (text, fragment) in [("max-connections-per-user = 0", "max-connections-per-user"),
                                 ("request-timeout = 0", "request-timeout"),
                                 ("request-timeout = soon", "request-timeout"),
                                 ("max-examples = 0", "max-examples"),
                                 ("max-examples = many", "max-examples")] {
            let error = #expect(throws: ConfigurationError.self) { _ = try ConfigurationFile.parse(text) }
            #expect(error.map { "\($0)".contains(fragment) } == true, "\(String(describing: error))")
        }
    }

    @Test func theShippedConfigurationStatesTheDefaultLimits() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../etc/adapterd.conf").standardized.path
        let shipped = try ConfigurationFile.load(path: file)
        let defaults = DaemonSettings()
        #expect(shipped.maxConnections == defaults.maxConnections)
        #expect(shipped.maxConnectionsPerUser == defaults.maxConnectionsPerUser)
        #expect(shipped.adminReservedConnections == defaults.adminReservedConnections)
        #expect(shipped.maxAdapterBytes == defaults.maxAdapterBytes)
        #expect(shipped.maxExamplesBytes == defaults.maxExamplesBytes)
        #expect(shipped.maxExamples == defaults.maxExamples)
        #expect(shipped.maxReadOnlyFrameBytes == defaults.maxReadOnlyFrameBytes)
        #expect(shipped.idleTimeoutSeconds == defaults.idleTimeoutSeconds)
        #expect(shipped.requestTimeoutSeconds == defaults.requestTimeoutSeconds)
    }

    @Test func theExamplesCountLimitRefusesLongerExampleFiles() throws {
        var settings = DaemonSettings()
        settings.maxExamples = 3
        let lines = (0..<4).map { #"{"text":"x\#($0)","label":"y"}"# }.joined(separator: "\n")
        #expect(throws: (any Error).self) { _ = try ExamplesFile.parse(Data(lines.utf8), limits: settings.examplesLimits) }
        let three = (0..<3).map { #"{"text":"x\#($0)","label":"y"}"# }.joined(separator: "\n")
        #expect(try ExamplesFile.parse(Data(three.utf8), limits: settings.examplesLimits).count == 3)
    }
}
