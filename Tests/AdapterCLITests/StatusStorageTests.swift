import AdapterProtocol
import Testing
@testable import AdapterCLI

/// `adapterctl status` in text shows what the daemon reports about its state directory: read-only
/// and why, and each damaged object with its tasks (not only `--json`).
@Suite("status: storage lines")
struct StatusStorageTests {
    @Test func aReadOnlyDaemonSaysSoAndWhy() {
        let lines = StatusCommand.renderStorage(StorageStatus(
            readOnly: true, readOnlyReason: "disk full: no room for the space reserve", damagedObjects: [],
            lastVerifiedAt: nil))
        #expect(lines == ["storage:     READ-ONLY: disk full: no room for the space reserve"])
    }

    @Test func damagedObjectsAreListedWithTheirTasksEscaped() {
        let damaged = DamagedObjectInfo(
            sha256: String(repeating: "ab", count: 32), bytes: 10, problem: "hashes to 44…, not to its name",
            tasks: ["sum\u{1B}[2Jmarize"], clusters: [], setAsideAs: nil, detectedAt: "2026-12-04T00:00:00Z")
        let lines = StatusCommand.renderStorage(StorageStatus(
            readOnly: false, readOnlyReason: nil, damagedObjects: [damaged], lastVerifiedAt: "2026-12-04T00:00:00Z"))
        #expect(lines.count == 2)
        #expect(lines[0] == "storage:     writable, 1 damaged object(s), last verified 2026-12-04T00:00:00Z")
        #expect(lines[1].contains("abababababababab… hashes to 44…, not to its name (tasks: sum\\u{1B}[2Jmarize)"))
        #expect(!lines[1].contains("\u{1B}"))
    }
}

/// Numbers from the daemon that would not fit an Int are shown, not trapped on.
@Suite("status: uptime")
struct StatusUptimeTests {
    @Test func uptimesAreReadableAndHostileOnesDoNotTrap() {
        #expect(StatusCommand.formatUptime(59) == "59s")
        #expect(StatusCommand.formatUptime(3725) == "1h2m")
        #expect(StatusCommand.formatUptime(1e300) == "277777777777h46m")
        #expect(StatusCommand.formatUptime(.nan) == "unknown")
        #expect(StatusCommand.formatUptime(-5) == "unknown")
    }

    @Test func theTextRouteLineSaysWhyItsEmbedderServes() {
        let minilm = TextRoutingInfo(embedder: "minilm", model: "all-MiniLM-L6-v2", tasks: 3,
                                     reason: "text-embedder = auto; model found in /usr/share/adapterd/models/all-MiniLM-L6-v2")
        #expect(StatusCommand.textRoutingLine(minilm)
                == "text route:  minilm (all-MiniLM-L6-v2), 3 tasks — text-embedder = auto; model found in /usr/share/adapterd/models/all-MiniLM-L6-v2")
        let old = TextRoutingInfo(embedder: "hashing", model: "hashing-2048", tasks: 1)
        #expect(StatusCommand.textRoutingLine(old) == "text route:  hashing (hashing-2048), 1 tasks")
        let hostile = TextRoutingInfo(embedder: "hashing", model: "hashing-2048", tasks: 0, reason: "x\u{1B}[2J")
        #expect(!StatusCommand.textRoutingLine(hostile).contains("\u{1B}"))
    }
}
