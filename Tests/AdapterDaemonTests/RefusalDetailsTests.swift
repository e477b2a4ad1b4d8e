import AdapterProtocol
import Foundation
import Testing

@Suite("Refusal details")
struct RefusalDetailsTests {
    /// An out-of-distribution verdict whose score (or a feature) is NaN still carries its details:
    /// the non-finite numbers travel as null and read back as NaN.
    @Test func aRefusalWithANaNScoreKeepsItsDetails() throws {
        let verdict = VerdictInfo(decision: "out-of-distribution", score: .nan, threshold: 0.5,
                                  topFeatures: [VerdictFeature(name: "q.kurtosis", value: .infinity, contribution: .nan)],
                                  model: "default")
        let error = RPCError(code: .refused, message: "refused",
                             details: RefusalDetails(task: "t", sha256: "ab", verdict: verdict, quarantineId: 7))
        let failure = RPCEncoding.failure(id: .number(1), error: error)
        let text = String(decoding: failure, as: UTF8.self)
        #expect(text.contains(#""score":null"#))
        let details = try #require(error.details(as: RefusalDetails.self))
        #expect(details.quarantineId == 7)
        #expect(details.verdict.decision == "out-of-distribution")
        #expect(details.verdict.score.isNaN)
        #expect(details.verdict.topFeatures.first?.value.isNaN == true)
    }

    /// Finite numbers are written exactly as before.
    @Test func finiteScoresAreEncodedAsNumbers() throws {
        let verdict = VerdictInfo(decision: "poisoned", score: 0.75, threshold: 0.5,
                                  topFeatures: [VerdictFeature(name: "f", value: 2, contribution: 1.5)], model: "m")
        let text = String(decoding: try JSONCoding.encoder.encode(verdict), as: UTF8.self)
        #expect(text == #"{"decision":"poisoned","model":"m","score":0.75,"threshold":0.5,"topFeatures":[{"contribution":1.5,"name":"f","value":2}]}"#)
        #expect(try JSONDecoder().decode(VerdictInfo.self, from: Data(text.utf8)) == verdict)
    }
}
