import AdapterProtocol
import Foundation
import Testing

/// `adapterd --budget X` is the initial budget: `adapterctl budget Y` changes it at run time (the
/// README's sequence), and the change survives a restart with the same flag; `status` says where the
/// budget in force came from.
@Suite("budget flag", .serialized)
struct BudgetFlagTests {
    @Test func theFlagIsTheInitialBudgetAndARunTimeChangeSurvivesARestart() throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let arguments = DaemonProcess.arguments(sandbox, budget: "64MiB")
        var daemon = try DaemonProcess(sandbox: sandbox, arguments: arguments)
        let initial = try #require(try Call(sandbox.socket, "status").result?["budget"] as? [String: Any])
        #expect(initial["limitBytes"] as? Int == 64 << 20)
        #expect(initial["source"] as? String == "--budget")

        let set = try adapterctl(sandbox.socket, ["budget", "16MiB", "--json"])
        #expect(set.status == 0, "\(set.stdout) \(set.stderr)")
        #expect(set.json?["limitBytes"] as? Int == 16 << 20)
        #expect(set.json?["source"] as? String == "budget.set")

        try daemon.stop()
        daemon = try DaemonProcess(sandbox: sandbox, arguments: arguments)
        let after = try #require(try Call(sandbox.socket, "status").result?["budget"] as? [String: Any])
        #expect(after["limitBytes"] as? Int == 16 << 20, "\(after)")
        #expect(after["source"] as? String == "budget.set")
        #expect(daemon.log.contains("--budget"), "the daemon says the flag gave way: \(daemon.log)")
        // recluster --budget stores a budget too, under the flag as well.
        let recluster = try Call(sandbox.socket, "recluster", #"{"budget":33554432,"dryRun":false}"#)
        #expect(recluster.result != nil, "\(recluster.response)")
        #expect((try Call(sandbox.socket, "status").result?["budget"] as? [String: Any])?["limitBytes"] as? Int == 32 << 20)
        try daemon.stop()
    }
}
