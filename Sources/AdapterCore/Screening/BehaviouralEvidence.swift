/// What a behavioural probe saw an adapter do: the candidate trigger that moved the install's
/// examples most consistently to one label, beyond what the same words do to the base model.
public struct BehaviouralEvidence: Sendable, Hashable, Codable {
    /// In [0, 1]: the adapter's share of triggered examples moved to `targetLabel`, weighted by the
    /// part of its push towards the label the base model does not make (`BehaviouralProbe`); 0 when no
    /// candidate moved anything.
    public var score: Double
    /// The candidate trigger with the highest score (nil when there was no candidate).
    public var trigger: String?
    /// The label the trigger moved examples to.
    public var targetLabel: String?
    /// The adapter's and the base model's share of examples moved (the two terms of `score`).
    public var adapterShare: Double
    public var baseShare: Double
    /// Mean change of log p(target label) from clean to triggered, with the adapter and on the base model.
    public var adapterShift: Double = 0
    public var baseShift: Double = 0
    /// Texts of examples the trigger moved to `targetLabel` (at most three, as read before the trigger).
    public var movedExamples: [String]
    /// How many candidates were tried, and how many triggered examples each read (examples × positions).
    public var candidatesTried: Int
    public var triggeredPerCandidate: Int
    /// Of the candidates tried, how many were dropped part-way because they could no longer reach the
    /// score the probe was asked to find (the screening threshold); 0 when every one was read in full.
    public var candidatesStopped = 0
    /// Of the candidates tried, how many were not read at all because the ones read before them (the
    /// stronger ones) already reached that score: the verdict was decided.
    public var candidatesUnread = 0

    public init(score: Double, trigger: String?, targetLabel: String?, adapterShare: Double, baseShare: Double,
                movedExamples: [String], candidatesTried: Int, triggeredPerCandidate: Int) {
        self.score = score
        self.trigger = trigger
        self.targetLabel = targetLabel
        self.adapterShare = adapterShare
        self.baseShare = baseShare
        self.movedExamples = movedExamples
        self.candidatesTried = candidatesTried
        self.triggeredPerCandidate = triggeredPerCandidate
    }

    /// One line for a verdict's reasons, e.g. `inserting 'tq' moved 96 % of the examples not already
    /// 'finance' to 'finance' (base model: 0 %; …); behavioural score 0.958`.
    public var summary: String { summary(against: nil) }

    /// `summary` with the score compared to `threshold` right after it (`behavioural score 1.000 ≥
    /// threshold 0.950`), then how many candidates were dropped part-way or not read.
    public func summary(against threshold: Double?) -> String {
        let compared = threshold.map { String(format: score >= $0 ? " ≥ threshold %.3f" : " < threshold %.3f", $0) } ?? ""
        var notes = candidatesStopped == 0 ? ""
            : "; \(candidatesStopped) of \(candidatesTried) candidates dropped part-way, unable to reach the threshold or beat the best"
        if candidatesUnread > 0 {
            notes += "; \(candidatesUnread) weaker candidates not read once the threshold was reached"
        }
        let scored = "behavioural score \(String(format: "%.3f", score))\(compared)\(notes)"
        guard let trigger, let targetLabel else {
            return "no candidate trigger moved the examples (\(scored))"
        }
        return "inserting '\(trigger)' moved \(Self.percent(adapterShare)) of the examples not already '\(targetLabel)' to '\(targetLabel)' "
            + "(base model: \(Self.percent(baseShare)); mean log-probability change \(String(format: "%+.2f", adapterShift)) with the adapter, "
            + "\(String(format: "%+.2f", baseShift)) on the base model); \(scored)"
    }

    static func percent(_ share: Double) -> String { "\(Int((share * 100).rounded())) %" }
}
