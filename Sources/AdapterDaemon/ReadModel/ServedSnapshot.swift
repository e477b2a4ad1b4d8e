import AdapterCore
import AdapterProtocol
import AdapterStore
import Foundation
import NIOConcurrencyHelpers

/// What the read-only methods (`route`, `route.text`, `list`, `status`) answer, built from the catalog
/// once at start and again after every change of the tasks, the budget or the served set.
///
/// Readers take the current value and never touch the catalog, so routing costs a dictionary lookup
/// and is not slowed by a re-cluster writing to SQLite. Because the snapshot is rebuilt only once a
/// change is complete, a re-installed task keeps answering with its previous version's route until
/// the generation serving the new version is current.
struct ServedSnapshot: Sendable {
    /// Task → what `route` answers, for every task the current generation serves at its installed version.
    var routes: [String: RouteResult]
    /// Names of the installed tasks (to tell "installed but not served" from "not installed").
    var installed: Set<String>
    /// The tasks as `list` reports them, by name.
    var tasks: [TaskSummary]
    /// The current generation's id, 0 before the first one.
    var generation: Int64
    /// The budget stored with `budget.set`, nil if never set.
    var storedBudget: Budget?
    var servedBytes: Int64
    var archiveBytes: Int64
    /// Refused adapters recorded in the quarantine.
    var quarantined: Int
    /// The current generation's served set as `status` shows it (its `reclustering` is filled in when read).
    var served: ServedSetInfo?
    /// Installed tasks that are not served because a file of theirs is damaged → what `route` answers.
    var unservable: [String: String] = [:]
    /// The damaged objects as `status` reports them, with the tasks and clusters they belong to.
    var damaged: [DamagedObjectInfo] = []
    /// The store's `damageVersion` this snapshot was built from.
    var damageVersion = 0
    /// The parts of the answers that change only with the snapshot, encoded once when it is built.
    var encoded: EncodedReads
    /// Tells this build of the snapshot from every other (for caches of what is derived from it).
    var buildID = UUID()

    /// Reads the catalog. `exampleCount` gives the number of examples of a task (cached by the caller).
    static func build(store: AdapterStore, servedSet: (Generation?) -> ServedSetInfo?,
                      exampleCount: (InstalledTask) throws -> Int) throws -> ServedSnapshot {
        let damageVersion = store.damageVersion
        let damagedObjects = store.damagedObjects()
        let damaged = Set(damagedObjects.map(\.digest))
        let generation = try store.currentGeneration()
        let tasks = try store.tasks()
        let byName = Dictionary(tasks.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var routes: [String: RouteResult] = [:]
        var servedBy: [String: String] = [:]
        var unservable: [String: String] = [:]
        if let generation {
            let servedAdapters = Dictionary(generation.servedAdapters.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            for route in generation.routes where route.servesInstalledVersion {
                guard let task = byName[route.task], let served = servedAdapters[route.servedAdapterID] else { continue }
                if let digest = [task.adapter.weightsDigest, task.adapter.configDigest].first(where: damaged.contains) {
                    // Kept out like a plan keeps it out (a re-plan follows), even where a merge still holds it.
                    unservable[route.task] = "task '\(route.task)' is not served: its stored adapter file \(digest.hex) is "
                        + "damaged on disk (see `adapterctl status`); install the task again to serve it"
                    continue
                }
                if let digest = [served.weightsDigest, served.configDigest].first(where: damaged.contains) {
                    // Never handed out under a hash its bytes no longer have.
                    unservable[route.task] = "task '\(route.task)' is not served: the file \(digest.hex) of the adapter serving it "
                        + "(cluster \(served.id)) is damaged on disk; adapterd re-plans the served set without it "
                        + "(see `adapterctl status`)"
                    continue
                }
                routes[route.task] = RouteResult(
                    task: route.task, version: task.version, generation: generation.id,
                    adapter: CatalogMapping.servedAdapter(served), retainedQuality: route.retainedQuality,
                    evaluator: generation.evaluator)
                servedBy[route.task] = served.weightsDigest.hex
            }
        }
        for task in tasks where routes[task.name] == nil && unservable[task.name] == nil {
            if let digest = [task.adapter.weightsDigest, task.adapter.configDigest].first(where: damaged.contains) {
                unservable[task.name] = "task '\(task.name)' is installed but not served: its stored adapter file \(digest.hex) "
                    + "is damaged on disk (see `adapterctl status`); install the task again to serve it"
            }
        }
        let summaries = try tasks.map { task in
            var summary = CatalogMapping.summary(task, route: nil, examples: try exampleCount(task))
            summary.servedBy = servedBy[task.name]
            return summary
        }
        var snapshot = ServedSnapshot(
            routes: routes, installed: Set(byName.keys), tasks: summaries, generation: generation?.id ?? 0,
            storedBudget: try store.storedBudget(), servedBytes: Int64(generation?.bytesUsed ?? 0),
            archiveBytes: Int64(try store.archiveBytes()), quarantined: try store.quarantine().count,
            served: servedSet(generation), encoded: EncodedReads())
        snapshot.unservable = unservable
        snapshot.damaged = damagedObjects.map { CatalogMapping.damaged($0, tasks: tasks, generation: generation) }
        snapshot.damageVersion = damageVersion
        return snapshot.withEncodedReads()
    }

    /// This snapshot with `encoded` filled in from its values.
    func withEncodedReads() -> ServedSnapshot {
        var copy = self
        copy.encoded = EncodedReads(routes: routes, tasks: tasks, served: served)
        return copy
    }
}

/// JSON text of what the read methods answer that depends on the snapshot alone: every route result,
/// the `tasks` of `list` and the `served` of `status` (with `reclustering` false and true), encoded by
/// the protocol's encoder so the bytes are those the typed results would give. A part that cannot be
/// encoded is left out and answered the typed way (which then reports the error).
struct EncodedReads: Sendable {
    var routes: [String: Data] = [:]
    var tasks: Data?
    var servedIdle: Data?
    var servedReclustering: Data?

    init() {}

    init(routes: [String: RouteResult], tasks: [TaskSummary], served: ServedSetInfo?) {
        let encoder = JSONCoding.encoder
        for (task, route) in routes {
            self.routes[task] = try? encoder.encode(route)
        }
        self.tasks = try? encoder.encode(tasks)
        if var served {
            served.reclustering = false
            servedIdle = try? encoder.encode(served)
            served.reclustering = true
            servedReclustering = try? encoder.encode(served)
        }
    }

    func served(reclustering: Bool) -> Data? {
        reclustering ? servedReclustering : servedIdle
    }
}

extension ReadModel {
    /// The snapshot the read-only methods answer from (rebuilt from the catalog if the last rebuild failed).
    func readSnapshot() throws -> ServedSnapshot {
        if let current = snapshot.withLockedValue({ $0 }) { return current }
        let built = try buildSnapshot()
        snapshot.withLockedValue { if $0 == nil { $0 = built } }
        return built
    }

    /// True when the reads can answer from memory (false after a failed rebuild: the next read goes
    /// to the catalog, which must not happen on an event loop).
    var hasSnapshot: Bool { snapshot.withLockedValue { $0 != nil } }

    /// Rebuilds the snapshot from the catalog. Call after a change is committed (holding `mutations`,
    /// or before serving). A failure is logged and makes the next read rebuild it.
    func refreshSnapshot() {
        do {
            let built = try buildSnapshot()
            snapshot.withLockedValue { $0 = built }
        } catch {
            snapshot.withLockedValue { $0 = nil }
            logger.error("cannot read the catalog to answer reads from memory (\(error)); the next read retries")
        }
    }

    /// Records a new quarantine entry in the snapshot (a refusal changes nothing else).
    func refreshQuarantineCount() {
        guard let count = try? store.quarantine().count else {
            snapshot.withLockedValue { $0 = nil }
            return
        }
        // The quarantine only grows: never let a concurrent rebuild's older count win.
        snapshot.withLockedValue { current in
            if let known = current?.quarantined { current?.quarantined = max(known, count) }
        }
    }

    private func buildSnapshot() throws -> ServedSnapshot {
        try ServedSnapshot.build(store: store, servedSet: { servedSetInfo(of: $0) }) { task in
            if let known = exampleCounts.withLockedValue({ $0[task.examplesDigest] }) { return known }
            // Damaged examples (recorded by the read) count as none rather than failing every read.
            guard let examples = try? store.examples(of: task) else { return 0 }
            let count = ExamplesFile.normalisedCount(examples)
            exampleCounts.withLockedValue { $0[task.examplesDigest] = count }
            return count
        }
    }
}
