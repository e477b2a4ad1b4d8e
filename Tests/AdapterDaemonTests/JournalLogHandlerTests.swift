@testable import AdapterDaemon
import Foundation
import Logging
import Testing

@Suite("Logging", .serialized)
struct JournalLogHandlerTests {
    @Test func levelsMapToSyslogPriorities() {
        #expect(JournalLogHandler.priority(.critical) == 2)
        #expect(JournalLogHandler.priority(.error) == 3)
        #expect(JournalLogHandler.priority(.warning) == 4)
        #expect(JournalLogHandler.priority(.notice) == 5)
        #expect(JournalLogHandler.priority(.info) == 6)
        #expect(JournalLogHandler.priority(.debug) == 7)
    }

    @Test func theJournalIsUsedOnlyWhenStderrIsTheStreamSystemdNamed() {
        let saved = ProcessInfo.processInfo.environment["JOURNAL_STREAM"]
        defer {
            if let saved { setenv("JOURNAL_STREAM", saved, 1) } else { unsetenv("JOURNAL_STREAM") }
        }
        var info = stat()
        fstat(2, &info)
        setenv("JOURNAL_STREAM", "\(info.st_dev):\(info.st_ino)", 1)
        #expect(JournalLogHandler.stderrIsJournal)
        setenv("JOURNAL_STREAM", "\(info.st_dev):\(info.st_ino &+ 1)", 1)
        #expect(!JournalLogHandler.stderrIsJournal)
        setenv("JOURNAL_STREAM", "garbage", 1)
        #expect(!JournalLogHandler.stderrIsJournal)
        unsetenv("JOURNAL_STREAM")
        #expect(!JournalLogHandler.stderrIsJournal)
    }

    @Test func metadataIsAppendedSorted() {
        let line = LogFormatting.line(message: "installed t", metadata: ["sha256": "ab", "peer": "uid 0"])
        #expect(line == "installed t peer=uid 0 sha256=ab")
    }
}
