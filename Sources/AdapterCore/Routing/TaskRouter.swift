/// Routes a text to the tasks whose examples it resembles (LoRAuter-style): each task is embedded as
/// the normalised centroid of its examples' embeddings, and a query is answered with the top-k tasks
/// by cosine similarity. Cost grows with the number of tasks, not adapters; mapping a task to the
/// adapter serving it is the caller's (the current generation's) business.
public struct TaskRouter: Sendable {
    /// One routing answer.
    public struct Match: Sendable, Hashable {
        public let task: String
        /// Cosine similarity of the query and the task's centroid, in [−1, 1].
        public let similarity: Double
    }

    public let embedder: any TextEmbedder
    /// Task name → unit-length centroid.
    public private(set) var centroids: [String: [Double]] = [:]

    public init(embedder: any TextEmbedder, tasks: [(name: String, examples: [String])] = []) throws {
        self.embedder = embedder
        for task in tasks {
            guard centroids[task.name] == nil else {
                throw RoutingError(.invalidArgument, "task '\(task.name)' is given twice")
            }
            try setTask(task.name, examples: task.examples)
        }
    }

    public var taskNames: [String] { centroids.keys.sorted() }

    /// Adds or replaces a task from its example texts.
    public mutating func setTask(_ name: String, examples: [String]) throws {
        centroids[name] = try centroid(of: examples, task: name)
    }

    /// Adds or replaces a task from a centroid computed earlier (e.g. stored in the catalog).
    public mutating func setTask(_ name: String, centroid: [Double]) throws {
        guard centroid.count == embedder.dimension, centroid.allSatisfy({ $0.isFinite }) else {
            throw RoutingError(.invalidArgument,
                "the centroid of task '\(name)' has \(centroid.count) values; \(embedder.name) makes \(embedder.dimension)")
        }
        centroids[name] = Self.normalised(centroid)
    }

    public mutating func removeTask(_ name: String) { centroids[name] = nil }

    /// The normalised mean of the examples' embeddings.
    public func centroid(of examples: [String], task: String) throws -> [Double] {
        var sum = [Double](repeating: 0, count: embedder.dimension)
        var used = 0
        for text in examples where !text.allSatisfy(\.isWhitespace) {
            let vector = try embedder.embed(text)
            guard vector.count == embedder.dimension else {
                throw RoutingError(.invalidArgument, "\(embedder.name) returned \(vector.count) values, expected \(embedder.dimension)")
            }
            for i in sum.indices { sum[i] += vector[i] }
            used += 1
        }
        guard used > 0 else {
            throw RoutingError(.noText, "task '\(task)' has no example text to route by")
        }
        return Self.normalised(sum)
    }

    /// The `top` tasks most similar to `text`, best first (ties by name).
    public func route(_ text: String, top: Int = 3) throws -> [Match] {
        guard top >= 1 else { throw RoutingError(.invalidArgument, "top must be at least 1") }
        guard !centroids.isEmpty else { throw RoutingError(.noTasks, "no task has examples to route by") }
        guard !text.allSatisfy(\.isWhitespace) else { throw RoutingError(.noText, "the text to route is empty") }
        let query = try embedder.embed(text)
        guard query.count == embedder.dimension else {
            throw RoutingError(.invalidArgument, "\(embedder.name) returned \(query.count) values, expected \(embedder.dimension)")
        }
        let matches = centroids.map { name, centroid in
            var dot = 0.0
            for i in centroid.indices { dot += centroid[i] * query[i] }
            return Match(task: name, similarity: dot)
        }
        return Array(matches.sorted { $0.similarity > $1.similarity || ($0.similarity == $1.similarity && $0.task < $1.task) }
            .prefix(top))
    }

    static func normalised(_ v: [Double]) -> [Double] {
        let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? v.map { $0 / norm } : v
    }
}
