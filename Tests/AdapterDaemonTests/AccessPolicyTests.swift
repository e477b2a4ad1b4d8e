@testable import AdapterDaemon
import Foundation
import Testing

@Suite("Access policy")
struct AccessPolicyTests {
    @Test func rootAndTheDaemonUserMayMutateOthersMayNot() throws {
        let policy = try AccessPolicy(daemonUID: 999, adminGroupName: nil)
        #expect(policy.mayMutate(PeerCredentials(pid: 1, uid: 0, gid: 0)))
        #expect(policy.mayMutate(PeerCredentials(pid: 1, uid: 999, gid: 5)))
        #expect(!policy.mayMutate(PeerCredentials(pid: 1, uid: 1234, gid: 1234)))
    }

    @Test func membersOfTheAdminGroupMayMutate() throws {
        // "nogroup" (or "nobody") exists on Debian; its gid is the primary group of "nobody".
        let name = AccessPolicy.groupID(named: "nogroup") != nil ? "nogroup" : "nobody"
        let gid = try #require(AccessPolicy.groupID(named: name))
        let policy = try AccessPolicy(daemonUID: 999, adminGroupName: name)
        #expect(policy.mayMutate(PeerCredentials(pid: 1, uid: 4321, gid: gid)))
        // uid 65534 (nobody) has this group as its primary group in the user database.
        #expect(policy.mayMutate(PeerCredentials(pid: 1, uid: 65534, gid: 12345)))
        #expect(!policy.mayMutate(PeerCredentials(pid: 1, uid: 4321, gid: 4321)))
    }

    @Test func aMissingAdminGroupIsAConfigurationError() {
        #expect(throws: ConfigurationError.self) {
            try AccessPolicy(daemonUID: 0, adminGroupName: "no-such-group-adapterd")
        }
    }
}
