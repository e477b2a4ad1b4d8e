/// Wraps an evaluator and remembers its scores by (candidate identity, task name, task version), so
/// an unchanged cluster is not scored again in later rounds or later re-clusterings. Failures are
/// not cached: the next request tries again.
///
/// The identity defaults to `AdapterFingerprint.of(candidate)`; the daemon can pass the sha256 of
/// the adapter file instead.
public actor CachingEvaluator: Evaluator {
    /// One cached score's key.
    public struct Key: Hashable, Sendable {
        public let candidate: String
        public let task: String
        public let version: Int

        public init(candidate: String, task: String, version: Int) {
            self.candidate = candidate
            self.task = task
            self.version = version
        }
    }

    public nonisolated let name: String
    public nonisolated let maximumScore: Double?
    private let base: any Evaluator
    private let identify: @Sendable (LoRAAdapter) -> String
    private var scores: [Key: Double] = [:]
    /// Evaluations answered from the cache.
    public private(set) var hits = 0
    /// Evaluations passed to the wrapped evaluator.
    public private(set) var misses = 0

    public init(_ base: any Evaluator,
                identify: @escaping @Sendable (LoRAAdapter) -> String = { AdapterFingerprint.of($0) }) {
        self.base = base
        self.name = base.name
        self.maximumScore = base.maximumScore
        self.identify = identify
    }

    public nonisolated func exampleWeight(for task: TaskProfile) -> Double { base.exampleWeight(for: task) }

    public func score(task: TaskProfile, candidate: LoRAAdapter) async throws -> Double {
        let key = Key(candidate: identify(candidate), task: task.name, version: task.version)
        if let cached = scores[key] {
            hits += 1
            return cached
        }
        misses += 1
        let value = try await base.score(task: task, candidate: candidate)
        scores[key] = value
        return value
    }

    /// Stores a score obtained elsewhere (e.g. loaded from the catalog).
    public func remember(_ score: Double, for key: Key) { scores[key] = score }

    /// Everything cached so far (e.g. to persist in the catalog).
    public var cached: [Key: Double] { scores }

    /// Drops every score of a task (all versions), e.g. when it is removed.
    public func forget(task: String) { scores = scores.filter { $0.key.task != task } }
}
