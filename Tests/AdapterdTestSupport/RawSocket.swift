import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A blocking Unix-socket client for tests that must send malformed bytes.
public final class RawSocket {
    public let fd: Int32

    public init(path: String, receiveTimeout: Double = 10) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawSocketError("socket() failed") }
        let result = withUnixSocketAddress(path) { connect(fd, $0, $1) }
        guard result == 0 else {
            close(fd)
            throw RawSocketError("connect(\(path)) failed: \(String(cString: strerror(errno)))")
        }
        var timeout = timeval(tv_sec: Int(receiveTimeout), tv_usec: Int((receiveTimeout - Double(Int(receiveTimeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        signal(SIGPIPE, SIG_IGN)
    }

    deinit { close(fd) }

    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { throw RawSocketError("send failed: \(String(cString: strerror(errno)))") }
            offset += written
        }
    }

    public func sendFrame(_ text: String) throws {
        let payload = Array(text.utf8)
        var bytes: [UInt8] = withUnsafeBytes(of: UInt32(payload.count).bigEndian) { Array($0) }
        bytes += payload
        try send(bytes)
    }

    /// Reads exactly `count` bytes; nil at end of stream or timeout.
    public func receive(_ count: Int) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let read = buffer[offset...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if read <= 0 { return nil }
            offset += read
        }
        return buffer
    }

    /// Reads one frame and parses it as a JSON object; nil when the connection closed (or timed out).
    public func receiveMessage() -> [String: Any]? {
        guard let header = receive(4) else { return nil }
        let length = header.reduce(0) { ($0 << 8) | Int($1) }
        guard let payload = receive(length) else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(payload))) as? [String: Any]
    }

    /// True when the peer closed the connection (recv returns 0) within the receive timeout.
    public func isClosedByPeer() -> Bool {
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, 0) == 0
    }
}

extension Dictionary where Key == String, Value == Any {
    public var errorCode: Int? { (self["error"] as? [String: Any])?["code"] as? Int }
}

/// A failure of the raw socket client (socket, connect or send).
public struct RawSocketError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
