@testable import AdapterCLI
import AdapterProtocol
import ArgumentParser
import Foundation
import Testing

@Suite("adapterctl")
struct AdapterCtlTests {
    @Test func daemonErrorsMapToDocumentedExitStatuses() {
        #expect(CLIError.status(for: RPCError(code: .refused, message: "")) == .declined)
        #expect(CLIError.status(for: RPCError(code: .notFound, message: "")) == .declined)
        #expect(CLIError.status(for: RPCError(code: .overBudget, message: "")) == .declined)
        #expect(CLIError.status(for: RPCError(code: .unauthorized, message: "")) == .unauthorized)
        #expect(CLIError.status(for: RPCError(code: .invalidParams, message: "")) == .usage)
        #expect(CLIError.status(for: RPCError(code: .internalError, message: "")) == .daemonError)
        #expect(CLIError.status(for: RPCError(code: .busy, message: "")) == .daemonError)
    }

    @Test func usageErrorsExitWithStatus2() async {
        #expect(await AdapterCtl.run(arguments: ["route"]) == ExitStatus.usage.rawValue)
        #expect(await AdapterCtl.run(arguments: ["no-such-command"]) == ExitStatus.usage.rawValue)
        #expect(await AdapterCtl.run(arguments: ["budget", "12 parsecs", "--socket", "/nonexistent"]) == ExitStatus.usage.rawValue)
    }

    @Test func aMissingSocketExitsWithStatus3() async {
        #expect(await AdapterCtl.run(arguments: ["status", "--socket", "/nonexistent/adapterd.sock"]) == ExitStatus.cannotConnect.rawValue)
    }

    @Test func helpDocumentsEveryExitStatus() {
        let help = AdapterCtl.helpMessage()
        for status in ExitStatus.allCases {
            #expect(help.contains("\(status.rawValue)  \(status.meaning)"))
        }
    }

    @Test func socketComesFromTheFlagThenTheEnvironmentThenTheDefault() throws {
        let flagged = try ClientOptions.parse(["--socket", "/tmp/x.sock"])
        #expect(flagged.socketPath == "/tmp/x.sock")
        let plain = try ClientOptions.parse([])
        let environment = ProcessInfo.processInfo.environment["ADAPTERD_SOCKET"]
        #expect(plain.socketPath == (environment?.isEmpty == false ? environment! : AdapterdClient.defaultSocketPath))
    }

    @Test func installReadsTheDirectoryAndReportsMissingFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("adapterctl-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try #"{"r": 4}"#.write(toFile: directory + "/adapter_config.json", atomically: true, encoding: .utf8)
        try #"{"text":"a","label":"b"}"#.write(toFile: directory + "/ex.jsonl", atomically: true, encoding: .utf8)
        do {
            _ = try InstallCommand.readParams(directory: directory, task: "t", examples: directory + "/ex.jsonl")
            Issue.record("expected a missing safetensors file")
        } catch let error as CLIError {
            #expect(error.status == .usage)
            #expect(error.message.contains("adapter_model.safetensors"))
        }
        try Data([1, 2, 3, 250]).write(to: URL(fileURLWithPath: directory + "/adapter_model.bin"))
        do {
            _ = try InstallCommand.readParams(directory: directory, task: "t", examples: directory + "/ex.jsonl")
            Issue.record("expected a refusal of .bin")
        } catch let error as CLIError {
            #expect(error.message.contains("pickle"))
        }
        try Data([1, 2, 3, 250]).write(to: URL(fileURLWithPath: directory + "/adapter_model.safetensors"))
        let params = try InstallCommand.readParams(directory: directory, task: "t", examples: directory + "/ex.jsonl")
        #expect(Data(base64Encoded: params.safetensors) == Data([1, 2, 3, 250]))
        #expect(params.config == #"{"r": 4}"#)
        #expect(params.examples.contains("label"))
    }

    @Test func refusalsAreExplainedWithTheVerdict() {
        let verdict = VerdictInfo(decision: "poisoned", score: 0.91, threshold: 0.5,
                                  topFeatures: [VerdictFeature(name: "v.kurtosis", value: 3.2, contribution: 1.7)], model: "m")
        let error = RPCError(code: .refused, message: "adapter for 't' refused",
                             details: RefusalDetails(task: "t", sha256: "abc", verdict: verdict, quarantineId: 4))
        let text = Output.describe(error)
        #expect(text.contains("refused"))
        #expect(text.contains("score 0.910 ≥ threshold 0.500"))
        #expect(text.contains("v.kurtosis"))
        #expect(text.contains("+1.700"))
        #expect(text.contains("#4"))
    }
}
