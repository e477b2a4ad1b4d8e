import AdapterCore
import Testing

@Suite("Verdict")
struct VerdictTests {
    static func verdict(_ decision: Verdict.Decision, score: Double) -> Verdict {
        Verdict(decision: decision, score: score, threshold: 0.5,
                topFeatures: [FeatureContribution(name: "q.kurtosis", value: 7, z: 2, contribution: 1)],
                reasons: ["note"], featureSet: "extended")
    }

    @Test func anotherThresholdDecidesAnewBetweenBenignAndPoisoned() {
        let poisoned = Self.verdict(.poisoned, score: 0.6).judged(against: 0.7)
        #expect(poisoned.decision == .benign)
        #expect(poisoned.threshold == 0.7)
        #expect(poisoned.score == 0.6)
        let benign = Self.verdict(.benign, score: 0.3).judged(against: 0.3)
        #expect(benign.decision == .poisoned)
        #expect(benign.topFeatures == Self.verdict(.benign, score: 0.3).topFeatures)
        #expect(benign.reasons == ["note"])
    }

    @Test func outOfDistributionStaysSoWhateverTheThreshold() {
        let judged = Self.verdict(.outOfDistribution, score: .nan).judged(against: 0.99)
        #expect(judged.decision == .outOfDistribution)
        #expect(judged.threshold == 0.99)
    }

    @Test func theModelIsTheFeatureSetUnlessNamed() {
        #expect(Self.verdict(.benign, score: 0.1).model == "extended")
        var named = Self.verdict(.benign, score: 0.1)
        named.model = "extended logistic regression (built-in)"
        #expect(named.model == "extended logistic regression (built-in)")
    }
}
