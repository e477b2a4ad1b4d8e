/// Params of `route.text`: the tasks whose few examples a text most resembles.
public struct TextRouteParams: Codable, Sendable, Hashable {
    /// Longest accepted text, in UTF-8 bytes.
    public static let maxTextBytes = 16 * 1024
    /// Accepted values of `top`.
    public static let topRange: ClosedRange<Int> = 1...50
    /// `top` when absent.
    public static let defaultTop = 3

    public var text: String
    /// How many tasks to return, best first; absent means `defaultTop`.
    public var top: Int?

    public init(text: String, top: Int? = nil) {
        self.text = text
        self.top = top
    }

    /// `top`, or its default.
    public var effectiveTop: Int { top ?? Self.defaultTop }

    /// Checks the values the JSON types cannot: a text that is not blank and not too long, `top` in
    /// `topRange`. Throws an `invalid params` error saying what is wrong.
    public func validate() throws(RPCError) {
        if text.allSatisfy(\.isWhitespace) {
            throw RPCError(code: .invalidParams, message: "\"text\" is empty; give the text to route")
        }
        let bytes = text.utf8.count
        if bytes > Self.maxTextBytes {
            throw RPCError(code: .invalidParams,
                           message: "\"text\" is \(bytes) bytes; route.text accepts at most \(Self.maxTextBytes) bytes")
        }
        if let top, !Self.topRange.contains(top) {
            throw RPCError(code: .invalidParams,
                           message: "\"top\" is \(top); it must be between \(Self.topRange.lowerBound) and \(Self.topRange.upperBound)")
        }
    }
}

/// Which text embedder turns examples and queries into vectors (`text-embedder` in adapterd.conf).
public enum TextEmbedderKind: String, Codable, Sendable, Hashable, CaseIterable {
    /// MiniLM when its model is found (`minilm-dir`, or the data directories `tools/get-minilm.sh`
    /// installs into), else hashing: the daemon's default. Only ever configured, never the active kind.
    case auto
    /// The built-in, dependency-free feature-hashing embedder.
    case hashing
    /// The native all-MiniLM-L6-v2 sentence embedder (needs its model directory).
    case minilm
}

/// One task `route.text` found, best first.
public struct TextRouteMatch: Codable, Sendable, Hashable {
    public var task: String
    /// Cosine similarity of the text and the task's examples (their normalised mean embedding), −1…1.
    public var similarity: Double
    /// What `route` answers for the task; nil when the current generation does not serve it.
    public var route: RouteResult?

    public init(task: String, similarity: Double, route: RouteResult?) {
        self.task = task
        self.similarity = similarity
        self.route = route
    }

    enum CodingKeys: String, CodingKey { case task, similarity, route }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        task = try container.decode(String.self, forKey: .task)
        similarity = try container.decode(Double.self, forKey: .similarity)
        route = try container.decodeIfPresent(RouteResult.self, forKey: .route)
    }

    /// Writes `"route": null` for an unserved task rather than leaving the member out.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(task, forKey: .task)
        try container.encode(similarity, forKey: .similarity)
        if let route { try container.encode(route, forKey: .route) } else { try container.encodeNil(forKey: .route) }
    }
}

/// Result of `route.text`.
public struct TextRouteResult: Codable, Sendable, Hashable {
    /// The embedder that answered: `hashing` or `minilm` (a `TextEmbedderKind` raw value; a string so
    /// that a client keeps decoding results of a daemon with more kinds).
    public var embedder: String
    /// At most `top` tasks, most similar first; empty when no task is installed.
    public var matches: [TextRouteMatch]

    public init(embedder: String, matches: [TextRouteMatch]) {
        self.embedder = embedder
        self.matches = matches
    }
}

/// The text-routing part of `status`: which embedder is active and how many tasks it indexes.
public struct TextRoutingInfo: Codable, Sendable, Hashable {
    /// The active embedder kind, `hashing` or `minilm`.
    public var embedder: String
    /// Its model: e.g. `hashing-2048`, `all-MiniLM-L6-v2`.
    public var model: String
    /// Tasks with an embedding (every installed task once the index is built).
    public var tasks: Int
    /// Why the configured embedder is not the active one (e.g. the MiniLM model directory is missing).
    public var fallbackReason: String?
    /// Why this embedder serves: the configured `text-embedder` and, for MiniLM, where its model was
    /// found (e.g. "text-embedder = auto; model found in /usr/share/adapterd/models/all-MiniLM-L6-v2").
    /// Absent from daemons older than this field.
    public var reason: String?

    public init(embedder: String, model: String, tasks: Int, fallbackReason: String? = nil, reason: String? = nil) {
        self.embedder = embedder
        self.model = model
        self.tasks = tasks
        self.fallbackReason = fallbackReason
        self.reason = reason
    }
}
