@testable import AdapterCore
import AdapterProtocol
import Foundation
import Testing
@testable import AdapterCLI

/// Strings that would act on a terminal: an SGR colour and a window-title sequence (ESC, BEL), an
/// 8-bit CSI that clears the screen, a bidi override that shows "exe.txt" as "txt.exe", isolates and
/// marks, a carriage return and a line feed that forge output, DEL, NUL and a line separator.
enum Hostile {
    static let colour = "evil\u{1B}[31mred\u{1B}]0;owned\u{07}"
    static let csi = "clear\u{9B}2J"
    static let override = "report\u{202E}txt.exe"
    static let isolates = "\u{2066}a\u{2069}\u{2067}b\u{2068}\u{200E}\u{200F}\u{061C}c"
    static let forged = "x\rOK\nverdict     benign"
    static let controls = "del\u{7F}nul\u{0}bs\u{8}ls\u{2028}ps\u{2029}"
    static let all = [colour, csi, override, isolates, forged, controls]
    static var each: String { all.joined(separator: " ") }

    /// The characters a terminal acts on, defined here independently of `TerminalSafeText`: C0 except
    /// the line feeds of the layout (when `allowingLineFeeds`), DEL, C1, the bidi controls and U+2028/9.
    static func unsafeScalars(in text: String, allowingLineFeeds: Bool = true) -> [Unicode.Scalar] {
        text.unicodeScalars.filter { scalar in
            let v = scalar.value
            if v == 0x0A { return !allowingLineFeeds }
            return v < 0x20 || (0x7F...0x9F).contains(v) || [0x061C, 0x200E, 0x200F, 0x2028, 0x2029].contains(v)
                || (0x202A...0x202E).contains(v) || (0x2066...0x2069).contains(v)
        }
    }

    /// Checks `text` (a whole output, with its own line breaks) holds nothing a terminal acts on, and
    /// no line that a hostile value forged.
    static func expectSafe(_ text: String, lines expected: Int? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
        let unsafe = unsafeScalars(in: text)
        #expect(unsafe.isEmpty, "raw \(unsafe.map { String($0.value, radix: 16) }) in:\n\(text)", sourceLocation: sourceLocation)
        #expect(!text.split(separator: "\n").contains { $0.hasPrefix("verdict     benign") }, "a forged line in:\n\(text)",
                sourceLocation: sourceLocation)
        if let expected {
            #expect(text.split(separator: "\n", omittingEmptySubsequences: false).count == expected, "\(text)",
                    sourceLocation: sourceLocation)
        }
    }
}

@Suite("terminal-safe output")
struct TerminalSafeOutputTests {
    @Test func unsafeCharactersAreWrittenInSwiftNotationAndEverythingElseIsKept() {
        #expect(TerminalSafeText.escape(Hostile.colour) == #"evil\u{1B}[31mred\u{1B}]0;owned\u{07}"#)
        #expect(TerminalSafeText.escape(Hostile.csi) == #"clear\u{9B}2J"#)
        #expect(TerminalSafeText.escape(Hostile.override) == #"report\u{202E}txt.exe"#)
        #expect(TerminalSafeText.escape(Hostile.forged) == #"x\u{0D}OK\u{0A}verdict     benign"#)
        #expect(TerminalSafeText.escape(Hostile.controls) == #"del\u{7F}nul\u{00}bs\u{08}ls\u{2028}ps\u{2029}"#)
        #expect(Hostile.unsafeScalars(in: TerminalSafeText.escape(Hostile.isolates), allowingLineFeeds: false).isEmpty)
        // Ordinary text, including non-Latin scripts, emoji sequences and backslashes, is unchanged;
        // escaping twice changes nothing.
        for plain in ["sentiment_movie-reviews.v2", "Grüße 東京 ✓ 👩‍👩‍👧", #"C:\path\u{1B}"#, "a\tb".replacingOccurrences(of: "\t", with: " ")] {
            #expect(TerminalSafeText.escape(plain) == plain)
        }
        let once = TerminalSafeText.escape(Hostile.each)
        #expect(TerminalSafeText.escape(once) == once)
        // For a whole output, the layout's line feeds stay and only they do.
        #expect(TerminalSafeText.escape("a\u{1B}\nb\r", keepingLineBreaks: true) == "a\\u{1B}\nb\\u{0D}")
    }

    @Test func tablesEscapeCellsAndAlignOnTheEscapedWidth() {
        let table = TextTable(header: ["TASK", "NOTE"], rows: Hostile.all.map { [$0, "z"] } + [["plain", "z"]]).render()
        Hostile.expectSafe(table, lines: 2 + Hostile.all.count + 1)
        #expect(table.contains(#"evil\u{1B}[31mred"#))
        // The second column starts at the same place on every line: widths are those of the escaped cells.
        let lines = table.split(separator: "\n")
        let noteColumn = lines[0].count - "NOTE".count
        #expect(lines.dropFirst(2).allSatisfy { $0.count - "z".count == noteColumn && $0.hasSuffix("  z") }, "\(table)")
    }

    @Test func showPrintsTheAdaptersAndTheInstallersStringsEscaped() {
        let detail = TaskDetail(
            summary: TaskSummary(task: Hostile.colour, version: 2, sha256: Hostile.csi, bytes: 10, rank: 4,
                                 baseModel: Hostile.override, examples: 3, installedAt: Hostile.controls, score: 0.1,
                                 servedBy: Hostile.isolates),
            verdict: VerdictInfo(decision: Hostile.forged, score: 0.1, threshold: 0.5, topFeatures: [], model: Hostile.colour),
            dtype: Hostile.csi, targetModules: Hostile.all, profileHash: "p", previousVersions: [1],
            examplePreview: [Hostile.forged, String(repeating: "\u{1B}[2J", count: 40), Hostile.override])
        let text = ShowCommand.render(detail)
        Hostile.expectSafe(text, lines: 13)
        #expect(text.contains(#"base model  report\u{202E}txt.exe"#))
    }

    @Test func statusListQuarantineRouteAndExportPrintDaemonStringsEscaped() {
        var status = StatusResult(
            daemon: "adapterd", version: Hostile.colour, protocolVersion: 1, pid: 1, uptimeSeconds: 5, socketActivated: false,
            tasks: 1, generation: 2, budget: BudgetStatus(limit: .unlimited, servedBytes: 0, archiveBytes: 0), quarantined: 0,
            detector: DetectorInfo(model: Hostile.override, threshold: 0.5), peer: PeerInfo(uid: 1, gid: 1, pid: 1, mayMutate: false),
            served: ServedSetInfo(
                generation: 2, kind: Hostile.csi,
                clusters: [PlanCluster(index: 0, id: 1, kind: Hostile.colour, tasks: Hostile.all, rank: 4, bytes: 1,
                                       sha256: Hostile.override, baseModel: Hostile.forged)],
                tasks: [PlanTask(task: Hostile.forged, version: 1, cluster: 0, retainedQuality: 1)],
                meanRetainedQuality: 1, worstRetainedQuality: 1, worstTask: Hostile.forged, evaluator: Hostile.isolates,
                evaluatorNote: Hostile.forged, lastReclusterAt: Hostile.controls, reclustering: false))
        status.textRouting = TextRoutingInfo(embedder: Hostile.colour, model: Hostile.override, tasks: 1, fallbackReason: Hostile.forged)
        Hostile.expectSafe(StatusCommand.render(status))

        let summary = TaskSummary(task: Hostile.forged, version: 1, sha256: Hostile.colour, bytes: 1, rank: 1, baseModel: nil,
                                  examples: 1, installedAt: Hostile.override, score: 0.2, servedBy: Hostile.csi)
        Hostile.expectSafe(ListCommand.render(ListResult(tasks: [summary, summary], generation: 3,
                                                         budget: BudgetStatus(limit: .bytes(10), servedBytes: 1, archiveBytes: 1))),
                           lines: 2 + 2 + 2)

        let verdict = VerdictInfo(decision: Hostile.csi, score: 0.9, threshold: 0.5,
                                  topFeatures: [VerdictFeature(name: Hostile.colour, value: 1, contribution: 2)], model: "m")
        let entry = QuarantineEntry(id: 1, task: Hostile.forged, sha256: Hostile.override, bytes: 1, time: Hostile.controls,
                                    peerUid: 4242, verdict: verdict)
        Hostile.expectSafe(QuarantineCommand.render(QuarantineListResult(entries: [entry])), lines: 3)

        let adapter = ServedAdapter(id: Hostile.colour, kind: "merged", tasks: Hostile.all, bytes: 1, configPath: Hostile.forged,
                                    weightsPath: Hostile.override, cluster: nil, directory: Hostile.csi, sha256: nil, rank: 2, scale: 1)
        let route = RouteResult(task: Hostile.forged, version: 1, generation: 1, adapter: adapter, retainedQuality: 0.5,
                                evaluator: Hostile.isolates)
        Hostile.expectSafe(RouteCommand.render(route), lines: 9)
        let textRoute = TextRouteResult(embedder: Hostile.colour, matches: [
            TextRouteMatch(task: Hostile.forged, similarity: 0.5, route: route),
            TextRouteMatch(task: Hostile.override, similarity: 0.1, route: nil),
        ])
        Hostile.expectSafe(RouteCommand.renderTextRoute(textRoute), lines: 2 + 2 + 2)
        Hostile.expectSafe(RouteCommand.renderTextRoute(TextRouteResult(embedder: Hostile.forged, matches: [])), lines: 1)

        let export = ExportResult(cluster: 3, generation: 4, kind: Hostile.colour, tasks: Hostile.all, sha256: Hostile.forged,
                                  scale: 1, config: "{}", safetensors: "")
        Hostile.expectSafe(ExportCommand.render(export, directory: "/tmp/\u{1B}]0;x\u{07}"), lines: 4)
    }

    @Test func daemonErrorsArePrintedEscaped() {
        let verdict = VerdictInfo(decision: Hostile.forged, score: 0.9, threshold: 0.5,
                                  topFeatures: [VerdictFeature(name: Hostile.colour, value: 1, contribution: 2),
                                                VerdictFeature(name: "v.kurtosis", value: 1, contribution: 1)],
                                  model: Hostile.override)
        let refusal = RPCError(code: .refused, message: Hostile.forged,
                               details: RefusalDetails(task: "t", sha256: Hostile.csi, verdict: verdict, quarantineId: 4))
        Hostile.expectSafe(Output.describe(refusal), lines: 6)
        Hostile.expectSafe(Output.describe(RPCError(code: .notFound, message: Hostile.each)), lines: 1)
    }

    @Test func wholeOutputsAndErrorMessagesKeepOnlyTheirLineBreaks() {
        // The last pass of printText and printError: whatever a command forgot, no ESC, C1 or bidi
        // control reaches the terminal.
        let escaped = TerminalSafeText.escape("line one \(Hostile.colour)\nline two \(Hostile.override)", keepingLineBreaks: true)
        Hostile.expectSafe(escaped, lines: 2)
    }

    @Test func jsonStaysExactJSONWithTerminalActiveCharactersEscaped() throws {
        let original = TaskSummary(task: Hostile.each, version: 1, sha256: Hostile.csi, bytes: 1, rank: 1,
                                   baseModel: Hostile.override, examples: 1, installedAt: Hostile.isolates, score: 0, servedBy: nil)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let json = TerminalSafeText.jsonText(String(decoding: try encoder.encode(original), as: UTF8.self))
        #expect(Hostile.unsafeScalars(in: json).isEmpty, "\(json)")
        #expect(json.contains(#"\u202e"#) && json.contains(#"\u009b"#))
        #expect(try JSONDecoder().decode(TaskSummary.self, from: Data(json.utf8)) == original)
    }

    @Test func inspectShowsAHostileAdapterConfigEscaped() throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("AdapterCoreTests/Fixtures/peft/gpt2_fused")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("adapterctl-hostile-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: fixture, to: directory)
        defer { try? FileManager.default.removeItem(at: directory) }
        let configURL = directory.appendingPathComponent("adapter_config.json")
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as? [String: Any])
        config["base_model_name_or_path"] = Hostile.colour + Hostile.forged + Hostile.override
        try JSONSerialization.data(withJSONObject: config).write(to: configURL)
        let adapter = try PEFTAdapterLoader.load(directory: directory)
        let report = AdapterReport(adapter: adapter, signature: try SignatureExtractor.signature(of: adapter))
        let text = report.text(path: directory.path + "/\u{1B}[8m")
        Hostile.expectSafe(text)
        #expect(text.contains(#"base model    evil\u{1B}[31mred"#))
        let json = TerminalSafeText.jsonText(try report.jsonString())
        #expect(Hostile.unsafeScalars(in: json).isEmpty)
        let decoded = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(decoded["base_model"] as? String == Hostile.colour + Hostile.forged + Hostile.override)
    }

    @Test func scanLinesShowHostilePathsAndErrorsEscaped() {
        let result = ScanResult(path: "/adapters/\(Hostile.forged)", verdict: nil, error: Hostile.colour, seconds: 0)
        Hostile.expectSafe(ScanPrinter.textLine(result), lines: 1)
        #expect(Hostile.unsafeScalars(in: TerminalSafeText.jsonText(ScanPrinter.jsonLine(result))).isEmpty)
    }
}
