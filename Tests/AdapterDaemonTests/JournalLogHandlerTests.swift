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

@Suite("Log lines of peer data")
struct LogLineEscapingTests {
    @Test func controlCharactersFromPeersCannotForgeLinesOrDriveTheTerminal() {
        let hostile = "bad config 'x\u{1B}[2J\u{1B}]0;t\u{07}'\nJan 01 adapterd: installed root-task\r\u{9B}1m\u{202E}gpj.exe\u{7F}"
        let line = LogFormatting.line(message: "install failed: \(hostile)", metadata: ["peer": "uid 4242\n"])
        let unsafe = line.unicodeScalars.filter {
            $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || (0x202A...0x202E).contains($0.value)
        }
        #expect(unsafe.isEmpty, "\(line)")
        #expect(line == #"install failed: bad config 'x\u{1B}[2J\u{1B}]0;t\u{07}'\u{0A}Jan 01 adapterd: installed root-task\u{0D}\u{9B}1m\u{202E}gpj.exe\u{7F} peer=uid 4242\u{0A}"#)
        #expect(LogFormatting.line(message: "plain Grüße", metadata: [:]) == "plain Grüße")
    }
}
