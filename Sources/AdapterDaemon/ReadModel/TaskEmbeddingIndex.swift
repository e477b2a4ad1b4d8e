import AdapterCore
import AdapterProtocol
import AdapterStore
import Dispatch
import Foundation
import Logging
import NIOConcurrencyHelpers

/// Task name → embedding of the task's stored few examples, for `route.text`.
///
/// Every change (the start-up build from the catalog, the refresh of one task after an install or a
/// removal, a switch of embedder on reload) runs in order on one serial dispatch queue and re-reads the
/// catalog, so the index converges on the catalog whatever order the changes were requested in.
/// Queries embed their text on a second, concurrent dispatch queue: embedding (MiniLM in particular) is
/// CPU work that must not occupy Swift's cooperative pool. The embedder and its task embeddings are
/// replaced together under a lock held only to copy or swap them, never while embedding.
final class TaskEmbeddingIndex: Sendable {
    /// A loaded embedder, with what was configured and why it differs (if it does).
    struct EmbedderChoice: Sendable {
        /// The kind actually in use.
        let kind: TextEmbedderKind
        let embedder: any TextEmbedder
        /// The configured kind and MiniLM directory (compared on reload).
        let configuredKind: TextEmbedderKind
        let configuredDirectory: String?
        /// Why `kind` is not `configuredKind`.
        let fallbackReason: String?
        /// Why this embedder serves, for status (the configured kind and where the model was found).
        var reason: String? = nil
    }

    /// The embedder in use and the embeddings it made; replaced as a whole.
    struct Snapshot: Sendable {
        let choice: EmbedderChoice
        let router: TaskRouter
    }

    private let store: AdapterStore
    private let logger: Logger
    private let state: NIOLockedValueBox<Snapshot>
    /// Serial: every change of the index, in the order it was asked for.
    private let updates = DispatchQueue(label: "adapterd.text-route.updates")
    /// Concurrent: embeddings of queries.
    private let queries = DispatchQueue(label: "adapterd.text-route.queries", attributes: .concurrent)

    /// Starts with no task and the built-in hashing embedder, then (asynchronously: `route` waits for
    /// it) loads the configured embedder and embeds every task of the catalog.
    init(store: AdapterStore, kind: TextEmbedderKind, minilmDirectory: String?, logger: Logger) {
        self.store = store
        self.logger = logger
        var builtIn = Self.hashingChoice(configuredKind: .hashing, configuredDirectory: nil, fallbackReason: nil)
        builtIn.reason = "text-embedder = \(kind.rawValue); still loading it and embedding the tasks"
        self.state = NIOLockedValueBox(Snapshot(choice: builtIn, router: Self.emptyRouter(builtIn.embedder)))
        configure(kind: kind, minilmDirectory: minilmDirectory, force: true)
    }

    // MARK: Reading

    /// What `status` reports: the active embedder and how many tasks it indexes.
    var info: TextRoutingInfo {
        let snapshot = state.withLockedValue { $0 }
        return TextRoutingInfo(embedder: snapshot.choice.kind.rawValue, model: snapshot.choice.embedder.name,
                               tasks: snapshot.router.centroids.count, fallbackReason: snapshot.choice.fallbackReason,
                               reason: snapshot.choice.reason)
    }

    /// The indexed task names, sorted.
    var taskNames: [String] { state.withLockedValue { $0.router.taskNames } }

    /// The `top` tasks most similar to `text`, best first, after every change asked for before this
    /// call has been applied (so a route right after an install sees the task). No task: no matches.
    func route(_ text: String, top: Int) async throws -> (embedder: TextEmbedderKind, matches: [TaskRouter.Match]) {
        await whenUpdated()
        let snapshot = state.withLockedValue { $0 }
        return try await withCheckedThrowingContinuation { continuation in
            queries.async {
                do {
                    continuation.resume(returning: (snapshot.choice.kind, try snapshot.router.route(text, top: top)))
                } catch let error as RoutingError where error.code == .noTasks {
                    continuation.resume(returning: (snapshot.choice.kind, []))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// Returns when every change asked for before the call has been applied.
    func whenUpdated() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            updates.async { continuation.resume() }
        }
    }

    // MARK: Changes

    /// Loads the configured embedder (falling back to hashing with a warning) and rebuilds every task's
    /// embedding with it, if the configuration differs from the one in use or fell back last time (the
    /// model may have been installed since); `force` rebuilds anyway (start-up). Asynchronous: `route`
    /// waits for it.
    func configure(kind: TextEmbedderKind, minilmDirectory: String?, force: Bool = false) {
        updates.async { [self] in
            let current = state.withLockedValue { $0.choice }
            // auto that found no model looks again: the model may have been installed since.
            let autoWithoutModel = current.configuredKind == .auto && current.kind == .hashing
            if !force && current.fallbackReason == nil && !autoWithoutModel && current.configuredKind == kind
                && current.configuredDirectory == minilmDirectory { return }
            let choice = Self.loadEmbedder(kind: kind, minilmDirectory: minilmDirectory, logger: logger)
            let router = buildRouter(with: choice.embedder)
            state.withLockedValue { $0 = Snapshot(choice: choice, router: router) }
            logger.info("text routing uses \(choice.embedder.name) for \(router.centroids.count) tasks")
        }
    }

    /// Re-reads one task from the catalog: an installed task gets the embedding of its current examples,
    /// a removed one leaves the index. Asynchronous: `route` waits for it.
    func refresh(task name: String) {
        updates.async { [self] in
            // Only this serial queue replaces the snapshot, so it cannot change between here and the swap.
            let snapshot = state.withLockedValue { $0 }
            var router = snapshot.router
            do {
                guard let centroid = embedding(ofTask: name, with: snapshot.choice.embedder) else {
                    throw RoutingError(.noText, "task \(name) is not routable by text")
                }
                try router.setTask(name, centroid: centroid)
            } catch {
                router.removeTask(name)
            }
            state.withLockedValue { $0 = Snapshot(choice: snapshot.choice, router: router) }
        }
    }

    // MARK: Building (on the update queue)

    /// A router over every installed task that has usable examples.
    private func buildRouter(with embedder: any TextEmbedder) -> TaskRouter {
        var router = Self.emptyRouter(embedder)
        let tasks: [InstalledTask]
        do {
            tasks = try store.tasks()
        } catch {
            logger.error("text routing: cannot list the installed tasks: \(error)")
            return router
        }
        for task in tasks {
            if let centroid = embedding(of: task, with: embedder) {
                try? router.setTask(task.name, centroid: centroid)
            }
        }
        return router
    }

    private func embedding(ofTask name: String, with embedder: any TextEmbedder) -> [Double]? {
        guard TaskName.isValid(name) else { return nil }
        do {
            guard let task = try store.task(named: name) else { return nil }
            return embedding(of: task, with: embedder)
        } catch {
            logger.error("text routing: cannot read task \(name): \(error)")
            return nil
        }
    }

    /// The normalised mean embedding of the task's example texts; nil (logged) when it has none usable.
    private func embedding(of task: InstalledTask, with embedder: any TextEmbedder) -> [Double]? {
        do {
            // Stored examples passed the install's limits when they came; a later, lower max-examples
            // (SIGHUP) or the parser's defaults must not make an installed task unroutable.
            let examples = try ExamplesFile.parse(try store.examples(of: task), limits: Self.storedExamplesLimits)
            return try TaskRouter(embedder: embedder).centroid(of: examples.map(\.text), task: task.name)
        } catch {
            logger.warning("text routing: task \(task.name) is not routable by text: \(error)")
            return nil
        }
    }

    /// Limits for re-reading stored examples: none beyond the file itself.
    static let storedExamplesLimits = ExamplesFile.Limits(maxExamples: .max, maxLineBytes: .max)

    // MARK: Embedders

    /// The configured embedder, or the hashing one with a logged warning when MiniLM cannot be loaded;
    /// `auto` is MiniLM when its model is found (in `minilmDirectory`, else the default candidates of
    /// `MiniLMEmbedder.modelDirectoryCandidates`) and loads, else hashing. `environment` is the process's
    /// (a parameter for tests).
    static func loadEmbedder(kind: TextEmbedderKind, minilmDirectory: String?, logger: Logger,
                             environment: [String: String] = ProcessInfo.processInfo.environment) -> EmbedderChoice {
        let configured = "text-embedder = \(kind.rawValue)"
        if kind == .hashing {
            var choice = hashingChoice(configuredKind: kind, configuredDirectory: minilmDirectory, fallbackReason: nil)
            choice.reason = configured
            return choice
        }
        let searched = minilmDirectory.map { [URL(fileURLWithPath: $0, isDirectory: true)] }
            ?? MiniLMEmbedder.modelDirectoryCandidates(environment: environment)
        let found = MiniLMEmbedder.firstModelDirectory(among: searched)
        let problem: String
        if let directory = found {
            do {
                let embedder = try MiniLMEmbedder(modelDirectory: directory)
                var choice = EmbedderChoice(kind: .minilm, embedder: embedder, configuredKind: kind,
                                            configuredDirectory: minilmDirectory, fallbackReason: nil)
                choice.reason = "\(configured); model found in \(directory.path)"
                return choice
            } catch {
                problem = "cannot load the MiniLM model from \(directory.path): \(error)"
            }
        } else {
            let places = searched.prefix(4).map(\.path).joined(separator: ", ") + (searched.count > 4 ? ", …" : "")
            problem = "no MiniLM model (model.safetensors) in \(places); run tools/get-minilm.sh (tools/setup.sh does), "
                + "or set minilm-dir (or $\(MiniLMEmbedder.directoryEnvironmentVariable))"
        }
        if kind == .auto {
            if found != nil { logger.warning("text-embedder = auto: \(problem); routing by text uses the built-in hashing embedder") }
            var choice = hashingChoice(configuredKind: kind, configuredDirectory: minilmDirectory, fallbackReason: nil)
            choice.reason = "\(configured); \(problem)"
            return choice
        }
        logger.warning("text-embedder = minilm, but \(problem); routing by text uses the built-in hashing embedder")
        var choice = hashingChoice(configuredKind: kind, configuredDirectory: minilmDirectory, fallbackReason: problem)
        choice.reason = "\(configured), but the model cannot be used"
        return choice
    }

    /// A router without tasks (which cannot fail: only given tasks are checked).
    private static func emptyRouter(_ embedder: any TextEmbedder) -> TaskRouter {
        do {
            return try TaskRouter(embedder: embedder)
        } catch {
            fatalError("a task router without tasks failed: \(error)")
        }
    }

    private static func hashingChoice(configuredKind: TextEmbedderKind, configuredDirectory: String?,
                                      fallbackReason: String?) -> EmbedderChoice {
        let embedder: HashingTextEmbedder
        do {
            embedder = try HashingTextEmbedder()
        } catch {
            // The default parameters are constants inside the valid range.
            fatalError("the built-in hashing embedder rejected its default parameters: \(error)")
        }
        return EmbedderChoice(kind: .hashing, embedder: embedder, configuredKind: configuredKind,
                              configuredDirectory: configuredDirectory, fallbackReason: fallbackReason)
    }
}
