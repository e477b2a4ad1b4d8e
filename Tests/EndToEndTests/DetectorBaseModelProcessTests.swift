import AdapterdTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The real adapterd binary with `detector-base-model`: start-up errors, the detector named in
/// status, and SIGHUP reloads that change the base model or fail and keep the previous one.
@Suite("adapterd detector base model", .serialized)
struct DetectorBaseModelProcessTests {
    static let llamaTiny = Paths.packageRoot + "/data/corpus/base/llama-tiny"

    static func detectorModel(_ socket: String) throws -> String {
        let status = try adapterctl(socket, ["status", "--json"])
        guard status.status == 0, let detector = status.json?["detector"] as? [String: Any],
              let model = detector["model"] as? String else {
            throw HarnessError("status failed: \(status.stderr) \(status.stdout)")
        }
        return model
    }

    @Test func anUnreadableBaseModelStopsStartUpWithAClearMessage() throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        try "".write(toFile: sandbox.root + "/empty.conf", atomically: true, encoding: .utf8)
        let missing = sandbox.root + "/no-such-model"
        let result = try run(Paths.adapterd, ["--config", sandbox.root + "/empty.conf", "--socket", sandbox.socket,
                                              "--state-dir", sandbox.state, "--detector-base-model", missing])
        #expect(result.status == 1)
        #expect(result.stderr.contains("detector-base-model \(missing) is not a directory"), "\(result.stderr)")
    }

    @Test func statusNamesTheBaseModelAndReloadsSwitchOrKeepIt() throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let config = sandbox.root + "/adapterd.conf"
        try "detector-base-model = \(Self.llamaTiny)\n".write(toFile: config, atomically: true, encoding: .utf8)
        // The built-in models (not $ADAPTERD_DETECTOR_MODEL): the base model selects the alignment one.
        let daemon = try DaemonProcess(sandbox: sandbox, arguments: [
            "--config", config, "--socket", sandbox.socket, "--state-dir", sandbox.state, "--budget", "unlimited"])
        let withBase = try Self.detectorModel(sandbox.socket)
        #expect(withBase.hasPrefix("alignment logistic regression (built-in"))
        #expect(withBase.contains("base model \(Self.llamaTiny) (llama-128,"))
        try daemon.waitForLog("detector: \(withBase)")

        // A broken path on reload: logged, the previous detector stays.
        try "detector-base-model = \(sandbox.root)/gone\n".write(toFile: config, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        try daemon.waitForLog("configuration reload failed, keeping the previous settings: detector-base-model \(sandbox.root)/gone")
        #expect(try Self.detectorModel(sandbox.socket) == withBase)

        // No base model: the weights-only detector.
        try "detector-base-model = none\n".write(toFile: config, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        try daemon.waitForLog("configuration reloaded")
        let withoutBase = try Self.detectorModel(sandbox.socket)
        #expect(!withoutBase.contains("base model"))
        #expect(withoutBase.hasPrefix("extended logistic regression (built-in"))
        #expect(try daemon.stop() == 0)
    }
}
