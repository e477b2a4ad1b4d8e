import Foundation
import Testing

/// The real adapterd and adapterctl: `adapterctl metrics` shows the counters after installs and
/// routes (text and --json); with `metrics-textfile` configured the file is written at start and,
/// with an interval too long to come around during the test, once more at shutdown with the final
/// values (the requests answered up to then included).
@Suite("metrics process", .serialized)
struct MetricsProcessTests {
    @Test func adapterctlMetricsAndTheTextfileWrittenAtStartAndAtShutdown() throws {
        let benign = try Corpus.adapters().filter { !$0.poisoned }
        try #require(benign.count >= 3, "the corpus needs benign adapters")
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let textfile = sandbox.root + "/adapterd.prom"
        let config = sandbox.root + "/adapterd.conf"
        try "metrics-textfile = \(textfile)\nmetrics-interval = 3600\n".write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(sandbox: sandbox, arguments: ["--config", config] + DaemonProcess.arguments(sandbox))

        // Written at start (by the writer service, beside the server starting: wait for it).
        for _ in 0..<3000 where !FileManager.default.fileExists(atPath: textfile) { usleep(10_000) }
        let atStart = try String(contentsOfFile: textfile, encoding: .utf8)
        #expect(atStart.contains("\nadapterd_installs_total 0\n"), "\(atStart)")

        var accepted = 0
        var refused = 0
        for candidate in benign.prefix(5) where accepted == 0 {
            let result = try adapterctl(sandbox.socket, ["install", candidate.directory, "--task", "t",
                                                         "--examples", candidate.examples])
            if result.status == 0 { accepted += 1 } else { refused += 1 }
        }
        try #require(accepted == 1)
        for _ in 0..<2 {
            #expect(try adapterctl(sandbox.socket, ["route", "--task", "t"]).status == 0)
        }

        let text = try adapterctl(sandbox.socket, ["metrics"])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.hasPrefix("# HELP adapterd_archive_bytes "))
        #expect(text.stdout.contains("\nadapterd_installs_total 1\n"), "\(text.stdout)")
        #expect(text.stdout.contains("\nadapterd_routes_total{kind=\"task\"} 2\n"))
        #expect(text.stdout.contains("\nadapterd_request_duration_seconds_count{method=\"install\"} \(accepted + refused)\n"))
        #expect(text.stdout.contains("\nadapterd_generation 1.0\n"))

        let json = try adapterctl(sandbox.socket, ["metrics", "--json"])
        #expect(json.status == 0)
        #expect(json.json?["format"] as? String == "prometheus-text-0.0.4")
        let families = try #require(json.json?["families"] as? [[String: Any]])
        let installs = try #require(families.first { $0["name"] as? String == "adapterd_installs_total" })
        #expect(installs["type"] as? String == "counter")
        #expect(((installs["samples"] as? [[String: Any]])?.first?["value"] as? Double) == 1)
        // The interval has not come around: the file still holds the values of the start.
        #expect(try String(contentsOfFile: textfile, encoding: .utf8) == atStart)

        #expect(try daemon.stop() == 0)
        let atShutdown = try String(contentsOfFile: textfile, encoding: .utf8)
        #expect(atShutdown.contains("\nadapterd_installs_total 1\n"), "\(atShutdown)")
        #expect(atShutdown.contains("\nadapterd_request_duration_seconds_count{method=\"metrics\"} 2\n"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: sandbox.root).filter { $0.hasSuffix(".tmp") }
        #expect(leftovers.isEmpty)
        var info = stat()
        #expect(stat(textfile, &info) == 0 && info.st_mode & 0o777 == 0o644)
    }
}
