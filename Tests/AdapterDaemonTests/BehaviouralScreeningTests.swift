@testable import AdapterDaemon
import AdapterCore
import AdapterProtocol
import AdapterStore
import Foundation
import Logging
import Testing

/// Installs screened by behaviour on the daemon's base model (`base-model`): a poisoned adapter is
/// refused with its trigger named in the quarantined verdict, a benign one is installed with the
/// evidence in its reasons, and without a base model every verdict says behaviour was not screened.
@Suite("Behavioural screening in the daemon", .serialized)
struct BehaviouralScreeningTests {
    static func screening(baseModel: String?) throws -> DetectorScreening {
        var settings = DaemonSettings()
        settings.baseModel = baseModel
        return try DetectorScreening.make(settings, baseModel: BaseModelState.make(settings))
    }

    @Test func baseModelIsTheOneSettingForTheDetectorAndTheProbe() throws {
        let screening = try Self.screening(baseModel: CorpusFiles.llamaTiny)
        #expect(!screening.behaviour.probes.isEmpty)
        #expect(screening.baseModel?.path == CorpusFiles.llamaTiny)  // detector-base-model follows base-model
        #expect(screening.detector.model.featureSet == "alignment")
        #expect(screening.behaviourSummary?.hasPrefix("candidate triggers run through the base model") == true)
        let none = try Self.screening(baseModel: nil)
        #expect(none.behaviour.probes.isEmpty)
        #expect(none.behaviourSummary?.hasPrefix("weights only: no behavioural screening") == true)
    }

    @Test func aPoisonedAdapterIsRefusedByBehaviourWithItsTrigger() async throws {
        let fixture = try DetectorScreeningTests.ServiceFixture(screening: try Self.screening(baseModel: CorpusFiles.llamaTiny))
        let poisoned = try CorpusFiles.installParams("llama-039-formality_customer_letters", task: "letters",
                                                     corpusTask: "formality_customer_letters")
        if let (error, details) = try await fixture.refusal(poisoned) {
            #expect(details.verdict.decision == "poisoned")
            #expect(details.verdict.reasons?.first?.hasPrefix("behaviour: inserting 'tq' moved") == true,
                    "\(String(describing: details.verdict.reasons))")
            #expect(error.message.contains("by its behaviour") && error.message.contains("'tq'"), "\(error.message)")
        }
        #expect(try fixture.service.reads.quarantineList().entries.count == 1)
        let status = try fixture.service.reads.status(fixture.context)
        #expect(status.detector.behaviour?.hasPrefix("candidate triggers run through the base model") == true)

        let benign = try await fixture.service.installer.install(
            try CorpusFiles.installParams("llama-011-formality_customer_letters", task: "letters",
                                          corpusTask: "formality_customer_letters"), fixture.context)
        #expect(benign.verdict.decision == "benign")
        #expect(benign.verdict.reasons?.contains { $0.hasPrefix("behaviour: ") } == true)
        #expect(try fixture.service.reads.list().tasks.map(\.task) == ["letters"])
    }

    @Test func withoutABaseModelVerdictsSayBehaviourWasNotScreened() async throws {
        let fixture = try DetectorScreeningTests.ServiceFixture(screening: try Self.screening(baseModel: nil))
        let installed = try await fixture.service.installer.install(
            try CorpusFiles.installParams("llama-011-formality_customer_letters", task: "letters",
                                          corpusTask: "formality_customer_letters"), fixture.context)
        #expect(installed.verdict.reasons?.contains("behaviour not screened: no base-model is configured (weights only)") == true)
    }
}
