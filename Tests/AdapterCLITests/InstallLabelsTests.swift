@testable import AdapterCLI
import Foundation
import Testing

/// `adapterctl install --labels a,b,c`: names of integer labels, sent as the install's `labels`.
@Suite("install --labels")
struct InstallLabelsTests {
    @Test func theLabelsOptionParsesIntoTrimmedNames() throws {
        let command = try #require(try AdapterCtl.parseAsRoot(
            ["install", "dir", "--task", "t", "--examples", "e.jsonl", "--labels", "neg, pos ,neutral"]) as? InstallCommand)
        #expect(command.labels.map(InstallCommand.labelNames) == ["neg", "pos", "neutral"])
        // Empty names are kept so that the daemon refuses them with its reason, not silently dropped.
        #expect(InstallCommand.labelNames("a,,b") == ["a", "", "b"])
        let plain = try #require(try AdapterCtl.parseAsRoot(["install", "dir", "--task", "t", "--examples", "e.jsonl"]) as? InstallCommand)
        #expect(plain.labels == nil)
    }
}
