@testable import AdapterDaemon
import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing

/// The opt-in textfile export: `metrics-textfile` and `metrics-interval` parse and validate; the file
/// appears, is replaced atomically (a new inode renamed over it, never written in place, no temporary
/// file left, mode 0644 whatever the umask); the service writes at start and once more when it stops.
@Suite("Metrics textfile", .serialized)
struct MetricsTextfileTests {
    static func inode(_ path: String) throws -> UInt64 {
        var info = stat()
        guard stat(path, &info) == 0 else { throw TestFailure("stat \(path) failed") }
        return UInt64(info.st_ino)
    }

    static func mode(_ path: String) throws -> mode_t {
        var info = stat()
        guard stat(path, &info) == 0 else { throw TestFailure("stat \(path) failed") }
        return info.st_mode & 0o777
    }

    @Test func theFileAppearsAndIsReplacedAtomically() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let path = directory.path + "/adapterd.prom"
        let version = NIOLockedValueBox(0)
        let writer = MetricsTextfileWriter(path: path, interval: .seconds(60), logger: Logger(label: "test")) {
            let number = version.withLockedValue { $0 += 1; return $0 }
            return "# HELP adapterd_test_total A test.\n# TYPE adapterd_test_total counter\nadapterd_test_total \(number)\n"
        }
        let previousUmask = umask(0o077)
        defer { umask(previousUmask) }

        try writer.write()
        let first = try String(contentsOfFile: path, encoding: .utf8)
        #expect(first.hasSuffix("adapterd_test_total 1\n"))
        _ = try PrometheusTextValidator.parse(first)
        #expect(try Self.mode(path) == 0o644)
        let firstInode = try Self.inode(path)
        // A reader holding the old file keeps reading the old, complete text.
        let reader = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? reader.close() }

        try writer.write()
        #expect(try String(contentsOfFile: path, encoding: .utf8).hasSuffix("adapterd_test_total 2\n"))
        #expect(try Self.inode(path) != firstInode, "the file was written in place, not replaced")
        #expect(String(decoding: reader.readDataToEndOfFile(), as: UTF8.self) == first)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["adapterd.prom"])
    }

    @Test func aFailedWriteLeavesThePreviousFileAndNoTemporaryFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let path = directory.path + "/adapterd.prom"
        let fail = NIOLockedValueBox(false)
        let writer = MetricsTextfileWriter(path: path, interval: .seconds(60), logger: Logger(label: "test")) {
            if fail.withLockedValue({ $0 }) { throw TestFailure("registry unavailable") }
            return "# TYPE x gauge\nx 1\n"
        }
        try writer.write()
        fail.withLockedValue { $0 = true }
        writer.writeLoggingFailure()  // logged, not thrown
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "# TYPE x gauge\nx 1\n")
        // A directory that does not exist: an error naming the file, nothing created.
        let missing = MetricsTextfileWriter(path: directory.path + "/no/such/dir/a.prom", interval: .seconds(60),
                                            logger: Logger(label: "test")) { "x 1\n" }
        #expect(throws: MetricsTextfileWriter.Failure.self) { try missing.write() }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["adapterd.prom"])
    }

    @Test func theServiceWritesAtStartAndOnceMoreWhenItStops() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let path = directory.path + "/adapterd.prom"
        let writes = NIOLockedValueBox(0)
        let writer = MetricsTextfileWriter(path: path, interval: .seconds(3600), logger: Logger(label: "test")) {
            let number = writes.withLockedValue { $0 += 1; return $0 }
            return "# TYPE adapterd_writes gauge\nadapterd_writes \(number)\n"
        }
        let service = Task { await writer.run() }
        // The first write comes at once; the next would come only after an hour.
        for _ in 0..<1000 where !FileManager.default.fileExists(atPath: path) {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "# TYPE adapterd_writes gauge\nadapterd_writes 1\n")
        service.cancel()
        await service.value
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "# TYPE adapterd_writes gauge\nadapterd_writes 2\n")
    }

    @Test func configurationKeysParseAndValidate() throws {
        let settings = try ConfigurationFile.parse("""
            metrics-textfile = /var/lib/node_exporter/textfile_collector/adapterd.prom
            metrics-interval = 30s
            """)
        #expect(settings.metricsTextfile == "/var/lib/node_exporter/textfile_collector/adapterd.prom")
        #expect(settings.metricsIntervalSeconds == 30)
        let defaults = try ConfigurationFile.parse("")
        #expect(defaults.metricsTextfile == nil)
        #expect(defaults.metricsIntervalSeconds == 15)
        #expect(try ConfigurationFile.parse("metrics-textfile = none").metricsTextfile == nil)
        for bad in ["metrics-textfile = adapterd.prom", "metrics-textfile = /var/lib/x/", "metrics-interval = 0.5",
                    "metrics-interval = often"] {
            #expect(throws: ConfigurationError.self, "\(bad)") { _ = try ConfigurationFile.parse(bad) }
        }
        #expect(ConfigurationFile.keys.contains { $0.key == "metrics-textfile" })
    }

    @Test func aDaemonWithoutTheSettingWritesNoFile() throws {
        let fixture = try AdapterServiceTests.Fixture()
        #expect(fixture.service.metricsTextfileWriter(DaemonSettings(), logger: Logger(label: "test")) == nil)
        var settings = DaemonSettings()
        settings.metricsTextfile = fixture.directory.path + "/adapterd.prom"
        let writer = try #require(fixture.service.metricsTextfileWriter(settings, logger: Logger(label: "test")))
        try writer.write()
        let text = try String(contentsOfFile: settings.metricsTextfile!, encoding: .utf8)
        let parsed = try PrometheusTextValidator.parse(text)
        #expect(parsed["adapterd_installs_total"]?.samples.first?.value == 0)
        #expect(parsed["adapterd_generation"] != nil)
    }
}
