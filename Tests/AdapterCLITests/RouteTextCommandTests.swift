@testable import AdapterCLI
import AdapterProtocol
import ArgumentParser
import Testing

/// `adapterctl route --text`: argument checks before any connection, and the table it prints.
@Suite("adapterctl route --text")
struct RouteTextCommandTests {
    @Test(arguments: [
        (["route", "--socket", "/nonexistent"], "give --task NAME or --text TEXT"),
        (["route", "--task", "a", "--text", "b", "--socket", "/nonexistent"], "not both"),
        (["route", "--task", "a", "--top", "2", "--socket", "/nonexistent"], "--top applies to --text only"),
        (["route", "--text", "  ", "--socket", "/nonexistent"], "--text is empty"),
        (["route", "--text", "b", "--top", "0", "--socket", "/nonexistent"], "--top is 0; it must be between 1 and 50"),
        (["route", "--text", "b", "--top", "51", "--socket", "/nonexistent"], "--top is 51"),
    ])
    func badArgumentsAreUsageErrorsBeforeConnecting(arguments: [String], message: String) async {
        // A socket that does not exist: a connection attempt would exit 3, not 2.
        #expect(await AdapterCtl.run(arguments: arguments) == ExitStatus.usage.rawValue)
        do {
            _ = try AdapterCtl.parseAsRoot(arguments)
            Issue.record("\(arguments) parsed")
        } catch {
            #expect(AdapterCtl.fullMessage(for: error).contains(message), "\(AdapterCtl.fullMessage(for: error))")
        }
    }

    @Test func validArgumentsParse() async throws {
        let text = try #require(try AdapterCtl.parseAsRoot(["route", "--text", "hello there", "--top", "5"]) as? RouteCommand)
        #expect(text.text == "hello there")
        #expect(text.top == 5)
        #expect(text.task == nil)
        let task = try #require(try AdapterCtl.parseAsRoot(["route", "--task", "t"]) as? RouteCommand)
        #expect(task.task == "t")
        #expect(task.text == nil)
        #expect(await AdapterCtl.run(arguments: ["route", "--text", "hi", "--socket", "/nonexistent/a.sock"]) == ExitStatus.cannotConnect.rawValue)
    }

    @Test func tableShowsRankTaskSimilarityAndTheServingAdapter() {
        let served = RouteResult(
            task: "banking", version: 3, generation: 12,
            adapter: ServedAdapter(id: "0123456789abcdef0123", kind: "merged", tasks: ["banking", "travel"], bytes: 10,
                                   configPath: nil, weightsPath: nil))
        let result = TextRouteResult(embedder: "minilm", matches: [
            TextRouteMatch(task: "banking", similarity: 0.71234, route: served),
            TextRouteMatch(task: "cooking", similarity: -0.05, route: nil),
        ])
        let lines = RouteCommand.renderTextRoute(result).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines == [
            "RANK  TASK     SIMILARITY  SERVED BY            GENERATION",
            "────  ───────  ──────────  ───────────────────  ──────────",
            "1     banking  0.712       merged 0123456789ab  12",
            "2     cooking  -0.050      not served           -",
            "",
            "embedder: minilm",
        ])
        #expect(RouteCommand.renderTextRoute(TextRouteResult(embedder: "hashing", matches: []))
                == "no task to route to: none is installed (embedder hashing)")
    }
}
