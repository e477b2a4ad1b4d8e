@testable import AdapterCLI
import AdapterProtocol
import ArgumentParser
import Testing

/// `adapterctl metrics`: a subcommand with the client options, printing the exposition text as sent.
@Suite("adapterctl metrics")
struct MetricsCommandTests {
    @Test func parsesWithTheClientOptions() throws {
        let command = try #require(try AdapterCtl.parseAsRoot(["metrics", "--json", "--socket", "/tmp/x.sock"]) as? MetricsCommand)
        #expect(command.client.json)
        #expect(try #require(try AdapterCtl.parseAsRoot(["metrics"]) as? MetricsCommand).client.json == false)
    }

    @Test func printsTheTextAsSentWithOneFinalNewline() {
        let text = "# HELP a_total A.\n# TYPE a_total counter\na_total 1\n"
        // print adds the final newline back: stdout is exactly the daemon's text.
        #expect(MetricsCommand.render(MetricsResult(text: text, families: [])) + "\n" == text)
    }

    @Test func aDaemonThatCannotBeReachedExitsWithTheConnectionStatus() async {
        #expect(await AdapterCtl.run(arguments: ["metrics", "--socket", "/nonexistent/adapterd.sock"]) == ExitStatus.cannotConnect.rawValue)
    }
}
