import Synchronization

/// An evaluator's scores of one group's tasks with the served adapters a plan made for them, by
/// (evaluator, task, served adapter's member set and rank), shared by copies of a `CurveBook`: the
/// joint allocation's part of a group and the group planned within its bytes usually serve the same
/// clustering, which is then scored once.
final class ScoreMemo: Sendable {
    private let scores = Mutex<[String: Double]>([:])

    func score(_ key: String) -> Double? { scores.withLock { $0[key] } }

    func keep(_ score: Double, for key: String) { scores.withLock { $0[key] = score } }
}
