import AdapterProtocol
import CPeerCred
import Foundation
import NIOCore

/// Who is at the other end of a Unix-socket connection, as the kernel reports it (SO_PEERCRED):
/// the credentials of the process at connect() time, which the client cannot forge.
public struct PeerCredentials: Sendable, Hashable, CustomStringConvertible {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    public var description: String { "pid \(pid) uid \(uid) gid \(gid)" }

    /// Layout of `struct ucred` on Linux (pid_t, uid_t, gid_t: three 32-bit integers).
    struct KernelUcred: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    /// Reads the credentials of a connected channel's peer; must run on the channel's event loop.
    ///
    /// NIO hides the socket's descriptor, so this uses its getsockopt bridge with the kernel's layout of
    /// `struct ucred`; `cpeercred_get` (CPeerCred) is the same call for a raw descriptor.
    static func read(from channel: Channel) -> EventLoopFuture<PeerCredentials> {
        guard let provider = channel as? SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(PeerCredentialsError(message: "the channel is not a socket"))
        }
        let future: EventLoopFuture<KernelUcred> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        return future.map { PeerCredentials(pid: $0.pid, uid: $0.uid, gid: $0.gid) }
    }

    /// Reads the credentials of a raw connected socket descriptor.
    public static func read(descriptor: Int32) throws -> PeerCredentials {
        var pid: pid_t = 0
        var uid: uid_t = 0
        var gid: gid_t = 0
        guard cpeercred_get(descriptor, &pid, &uid, &gid) == 0 else {
            throw PeerCredentialsError(message: "SO_PEERCRED failed: \(String(cString: strerror(errno)))")
        }
        return PeerCredentials(pid: pid, uid: uid, gid: gid)
    }
}

/// Reading a peer's credentials failed; the connection is closed.
public struct PeerCredentialsError: Error, Hashable, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// Who may call mutating methods: root, the daemon's own uid, and members of the admin group.
public struct AccessPolicy: Sendable, Hashable {
    public let daemonUID: UInt32
    public let adminGroupID: UInt32?
    public let adminGroupName: String?

    public init(daemonUID: UInt32, adminGroupName: String?) throws(ConfigurationError) {
        self.daemonUID = daemonUID
        self.adminGroupName = adminGroupName
        if let adminGroupName {
            guard let gid = Self.groupID(named: adminGroupName) else {
                throw ConfigurationError(.invalidValue,
                    "admin-group '\(adminGroupName)' does not exist; create it (sysusers.d/adapterd.conf) or set admin-group = none")
            }
            adminGroupID = gid
        } else {
            adminGroupID = nil
        }
    }

    /// Whether the peer may install, remove or change the budget.
    public func mayMutate(_ peer: PeerCredentials) -> Bool {
        if peer.uid == 0 || peer.uid == daemonUID { return true }
        guard let adminGroupID else { return false }
        if peer.gid == adminGroupID { return true }
        return cpeercred_uid_in_group(peer.uid, adminGroupID) == 1
    }

    static func groupID(named name: String) -> UInt32? {
        var group = Glibc.group()
        var result: UnsafeMutablePointer<Glibc.group>? = nil
        var buffer = [CChar](repeating: 0, count: 16384)
        let status = getgrnam_r(name, &group, &buffer, buffer.count, &result)
        guard status == 0, result != nil else { return nil }
        return group.gr_gid
    }
}
