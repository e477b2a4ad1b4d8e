import AdapterProtocol
import AdapterdTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A stored object whose bytes no longer hash to its name (a flipped bit) or whose size changed:
/// found by `verify` (and a changed size at start-up), reported in `status`, never served under the
/// hash it no longer has, kept out of the served set, and repaired by installing the adapter again.
@Suite("object damage", .serialized)
struct ObjectDamageTests {
    static func arguments(_ sandbox: Sandbox) -> [String] {
        ["--socket", sandbox.socket, "--state-dir", sandbox.state, "--budget", "unlimited"] + DaemonProcess.detectorArguments
    }

    static func damaged(_ storage: [String: Any]?) -> [[String: Any]] {
        storage?["damagedObjects"] as? [[String: Any]] ?? []
    }

    @Test func aFlippedBitIsFoundByVerifyReportedAndNotServed() throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        var daemon = try DaemonProcess(sandbox: sandbox, arguments: Self.arguments(sandbox))
        let adapters = try InstallableAdapter.accepted(2, socket: sandbox.socket)
        #expect(adapters[0].install(sandbox.socket, task: "hit")["result"] != nil)
        #expect(adapters[1].install(sandbox.socket, task: "spared")["result"] != nil)
        let intact = try Call(sandbox.socket, "verify")
        #expect(Self.damaged(intact.result).isEmpty, "\(intact.response)")
        #expect(intact.result?["checkedObjects"] as? Int == 6)

        try StateDirectory.flipBit(StateDirectory.objectPath(sandbox.state, sha256: adapters[0].sha256))
        // Reading the files back (export) finds the damage and names it as such.
        let export = try Call(sandbox.socket, "export", #"{"task":"hit"}"#)
        #expect(export.errorMessage.contains("damaged"), "\(export.response)")
        #expect(!export.errorMessage.contains("replaced meanwhile"))
        let verify = try Call(sandbox.socket, "verify")
        let found = Self.damaged(verify.result)
        try #require(found.count == 1, "\(verify.response)")
        #expect(found[0]["sha256"] as? String == adapters[0].sha256)
        #expect(found[0]["tasks"] as? [String] == ["hit"])
        #expect((found[0]["problem"] as? String ?? "").contains("hash"), "\(found[0])")

        let status = try #require(try Call(sandbox.socket, "status").result)
        #expect(Self.damaged(status["storage"] as? [String: Any]).map { $0["sha256"] as? String } == [adapters[0].sha256])
        // The damaged task is not served (under a hash its bytes no longer have); the error says why.
        let route = try Call(sandbox.socket, "route", #"{"task":"hit"}"#)
        #expect(route.errorCode == RPCErrorCode.notFound.rawValue, "\(route.response)")
        #expect(route.errorMessage.contains("damaged"), "\(route.errorMessage)")
        let spared = try #require(try Call(sandbox.socket, "route", #"{"task":"spared"}"#).result?["adapter"] as? [String: Any])
        #expect(try StateDirectory.sha256(ofFile: try #require(spared["weightsPath"] as? String)) == adapters[1].sha256)
        // Still installed (flagged, not dropped).
        let listed = try #require(try Call(sandbox.socket, "list").result?["tasks"] as? [[String: Any]])
        #expect(listed.compactMap { $0["task"] as? String }.sorted() == ["hit", "spared"])
        // Every file a route hands out hashes to what the route says.
        let served = try #require(status["served"] as? [String: Any])
        #expect((served["tasks"] as? [[String: Any]])?.compactMap { $0["task"] as? String } == ["spared"])

        // Known after a restart too (the damaged bytes were set aside, not deleted).
        try daemon.stop()
        daemon = try DaemonProcess(sandbox: sandbox, arguments: Self.arguments(sandbox))
        let again = try #require(try Call(sandbox.socket, "status").result)
        #expect(Self.damaged(again["storage"] as? [String: Any]).map { $0["sha256"] as? String } == [adapters[0].sha256])
        #expect(try Call(sandbox.socket, "route", #"{"task":"hit"}"#).errorMessage.contains("damaged"))

        // Installing the adapter again repairs it.
        #expect(adapters[0].install(sandbox.socket, task: "hit")["result"] != nil)
        let repaired = try #require(try Call(sandbox.socket, "route", #"{"task":"hit"}"#).result?["adapter"] as? [String: Any])
        #expect(try StateDirectory.sha256(ofFile: try #require(repaired["weightsPath"] as? String)) == adapters[0].sha256)
        #expect(Self.damaged(try Call(sandbox.socket, "status").result?["storage"] as? [String: Any]).isEmpty)
        #expect(Self.damaged(try Call(sandbox.socket, "verify").result).isEmpty)
        try daemon.stop()
    }

    /// `verify` reads every stored byte: only administrators may ask for it.
    @Test(.enabled(if: getuid() == 0, "needs root to run a client as another uid"))
    func verifyIsForAdministratorsOnly() throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let daemon = try SecondUIDTests.daemonWithOneTask(sandbox, config: "admin-group = none")
        let result = try SecondUIDTests.pythonCall(sandbox.socket, uid: 4242, gid: 4242, "verify")
        #expect(result.json?.errorCode == RPCErrorCode.unauthorized.rawValue, "\(result.stdout) \(result.stderr)")
        #expect(try Call(sandbox.socket, "verify").result?["checkedObjects"] as? Int == 3)
        try daemon.stop()
    }

    /// A served file whose size changed while the daemon was stopped is found at start-up without
    /// a verify: the task it served is reported and not routed; the others are.
    @Test func aTruncatedObjectIsFoundAtStartUp() throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        var daemon = try DaemonProcess(sandbox: sandbox, arguments: Self.arguments(sandbox))
        let adapters = try InstallableAdapter.accepted(2, socket: sandbox.socket)
        #expect(adapters[0].install(sandbox.socket, task: "cut")["result"] != nil)
        #expect(adapters[1].install(sandbox.socket, task: "whole")["result"] != nil)
        try daemon.stop()
        let path = StateDirectory.objectPath(sandbox.state, sha256: adapters[0].sha256)
        chmod(path, 0o600)
        #expect(truncate(path, 100) == 0)

        daemon = try DaemonProcess(sandbox: sandbox, arguments: Self.arguments(sandbox))
        let status = try #require(try Call(sandbox.socket, "status").result)
        let found = Self.damaged(status["storage"] as? [String: Any])
        #expect(found.map { $0["sha256"] as? String } == [adapters[0].sha256], "\(status)")
        #expect(found.first?["tasks"] as? [String] == ["cut"])
        #expect(try Call(sandbox.socket, "route", #"{"task":"cut"}"#).errorMessage.contains("damaged"))
        #expect(try Call(sandbox.socket, "route", #"{"task":"whole"}"#).result != nil)
        #expect(try Call(sandbox.socket, "export", #"{"task":"cut"}"#).errorMessage.contains("damaged"))
        try daemon.stop()
    }
}
