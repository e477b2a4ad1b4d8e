@testable import AdapterCLI
import ArgumentParser
import Foundation
import Testing

/// The completion scripts under etc/completions/ and the manual pages under docs/man/ are what the
/// binaries generate now (tools/generate-cli-docs.sh writes them), so they cannot go stale.
@Suite("adapterctl completion scripts and manual pages")
struct CLIDocumentsTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    static func committed(_ path: String) throws -> String {
        let url = URL(fileURLWithPath: packageRoot + "/" + path)
        return try #require(try? String(contentsOf: url, encoding: .utf8), "\(path) is missing: run tools/generate-cli-docs.sh")
    }

    /// The built adapterd binary: $ADAPTERD_BIN_DIR, next to the test bundle, else .build/debug.
    static var adapterd: String {
        var candidates: [String] = []
        if let directory = ProcessInfo.processInfo.environment["ADAPTERD_BIN_DIR"] { candidates.append(directory) }
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent().path(percentEncoded: false))
        candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path(percentEncoded: false))
        candidates.append(packageRoot + "/.build/debug")
        let directory = candidates.first { FileManager.default.isExecutableFile(atPath: $0 + "/adapterd") }
        return (directory ?? packageRoot + "/.build/debug") + "/adapterd"
    }

    /// What `adapterd --experimental-dump-help` prints.
    static func adapterdDump() throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: adapterd)
        process.arguments = ["--experimental-dump-help"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return String(decoding: data, as: UTF8.self)
    }

    @Test(arguments: CompletionCommand.Shell.allCases)
    func eachCommittedCompletionScriptIsTheGeneratedOne(shell: CompletionCommand.Shell) throws {
        let script = CompletionCommand.script(for: shell)
        #expect(try Self.committed("etc/completions/" + shell.fileName) == script,
                "etc/completions/\(shell.fileName) is stale: run tools/generate-cli-docs.sh")
        // The scripts complete the subcommands, the global options and the completion shells.
        for word in ["status", "detector", "train", "completion", "socket", "json", "zsh"] {
            #expect(script.contains(word), "\(shell): \(word)")
        }
        #expect(!script.contains("manual"))   // hidden
    }

    @Test func completionPrintsAScriptForEachShellAndRefusesOthers() async throws {
        #expect(await AdapterCtl.run(arguments: ["completion", "zsh"]) == ExitStatus.ok.rawValue)
        #expect(await AdapterCtl.run(arguments: ["completion", "tcsh"]) == ExitStatus.usage.rawValue)
        let parsed = try #require(try AdapterCtl.parseAsRoot(["completion", "fish"]) as? CompletionCommand)
        #expect(parsed.shell == .fish)
    }

    @Test func adapterctlsManualPageIsCurrent() throws {
        let page = try ManualCommand.page(dump: AdapterCtl._dumpHelp())
        #expect(try Self.committed("docs/man/adapterctl.1") == page, "docs/man/adapterctl.1 is stale: run tools/generate-cli-docs.sh")
        #expect(page.hasPrefix(".\\\" -*- coding: UTF-8 -*-\n"))
        #expect(page.contains("\n.TH ADAPTERCTL 1 \"\" \"adapterd "))
        // The global options are in the synopsis and under OPTIONS.
        #expect(page.contains(".SH SYNOPSIS\n.PP\n\\fBadapterctl\\fR [\\fB\\-\\-socket\\fR \\fIpath\\fR] [\\fB\\-\\-json\\fR] \\fIsubcommand\\fR\n"))
        #expect(page.contains(".SH OPTIONS\n.TP\n\\fB\\-\\-socket\\fR \\fIpath\\fR\n"))
        #expect(page.contains("\n.SH NAME\nadapterctl \\- Inspect, screen and manage LoRA adapters served by adapterd.\n"))
        #expect(page.contains("\\fB\\-\\-socket\\fR \\fIpath\\fR"))
        #expect(page.contains(".SS \"adapterctl detector train\""))
        #expect(page.contains(".SS \"adapterctl completion\""))
        #expect(page.contains("(default: the number of processors)"))   // not this machine's count
        #expect(!page.contains(".SS \"adapterctl manual\"") && !page.contains(".SS \"adapterctl help\""))
        #expect(page.contains(".SH ENVIRONMENT\nADAPTERD_SOCKET"))
        // Every exit status of --help is on the page.
        for status in ExitStatus.allCases { #expect(page.contains("\(status.rawValue)  \(status.meaning)")) }
    }

    @Test func adapterdsManualPageIsCurrent() throws {
        let page = try ManualCommand.page(dump: try Self.adapterdDump())
        #expect(try Self.committed("docs/man/adapterd.1") == page, "docs/man/adapterd.1 is stale: run tools/generate-cli-docs.sh")
        #expect(page.contains("\n.TH ADAPTERD 1 "))
        #expect(page.contains("\\fB\\-\\-state\\-dir\\fR \\fIdir\\fR"))
        #expect(page.contains("SIGHUP reloads the configuration"))
    }

    @Test func troffRequestsAndBackslashesInHelpTextsAreEscaped() {
        #expect(ManualPage.paragraphs(".not a request\n'nor this\n\nback\\slash --opt -x")
                == ["\\&.not a request", "\\&'nor this", ".PP", "back\\eslash \\-\\-opt \\-x"])
        // Indented lines (lists) are kept unfilled.
        #expect(ManualPage.paragraphs("Exit status:\n  0  ok\n  1  no\nafter") == ["Exit status:", ".nf", "  0  ok", "  1  no", ".fi", "after"])
    }

    /// Every command's discussion is written as paragraphs: a line break inside a paragraph would
    /// survive ArgumentParser's re-wrapping and leave a ragged help text. A single line break is only
    /// allowed before an indented list line or after a line ending in ':'.
    @Test func helpDiscussionsHaveNoHardLineBreaksInsideParagraphs() {
        func commands(_ command: any ParsableCommand.Type) -> [any ParsableCommand.Type] {
            [command] + command.configuration.subcommands.flatMap(commands)
        }
        for command in commands(AdapterCtl.self) {
            let lines = command.configuration.discussion.components(separatedBy: "\n")
            for (i, line) in lines.enumerated().dropLast() {
                let next = lines[i + 1]
                let allowed = line.isEmpty || next.isEmpty || next.hasPrefix(" ") || line.hasSuffix(":")
                #expect(allowed, "\(command.configuration.commandName ?? "?"): a line break inside a paragraph after '\(line)'")
            }
        }
    }
}
