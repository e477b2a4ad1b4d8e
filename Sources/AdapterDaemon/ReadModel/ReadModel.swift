import AdapterCore
#if canImport(Glibc)
import Glibc
#endif
import AdapterProtocol
import AdapterStore
import Foundation
import Logging
import NIOConcurrencyHelpers

/// Answers the read-only methods (`route`, `route.text`, `list`, `status`, `show`, `quarantine.list`)
/// from an immutable snapshot of the current generation (ServedSnapshot.swift), rebuilt after every
/// committed change; `route`, `list` and `status` come pre-encoded (EncodedReads.swift).
final class ReadModel: Sendable {
    let store: AdapterStore
    let budget: BudgetSetting
    let screening: NIOLockedValueBox<any Screening>
    /// Task embeddings for `route.text` (TextRouting.swift).
    let textIndex: TaskEmbeddingIndex
    let logger: Logger
    let startedAt = Date()
    let socketActivated: Bool
    /// True while a re-cluster is planned or written (set by the Replanner).
    let reclustering = NIOLockedValueBox(false)
    /// The evaluator re-clustering uses and why (set by the replanner).
    let evaluator = NIOLockedValueBox<EvaluatorInfo?>(nil)
    /// What `route`, `list` and `status` answer; nil after a failed rebuild.
    let snapshot = NIOLockedValueBox<ServedSnapshot?>(nil)
    /// `status` encoded but for its peer and uptime, for the current values of everything else.
    let statusTemplate = NIOLockedValueBox<EncodedStatusTemplate?>(nil)
    /// Number of examples by the examples file's digest, counted once per file.
    let exampleCounts = NIOLockedValueBox<[ContentDigest: Int]>([:])
    /// When `verify` last finished (set by Maintenance).
    let lastVerifiedAt = NIOLockedValueBox<Date?>(nil)

    init(store: AdapterStore, budget: BudgetSetting, screening: NIOLockedValueBox<any Screening>,
         textIndex: TaskEmbeddingIndex, socketActivated: Bool, logger: Logger) {
        self.store = store
        self.budget = budget
        self.screening = screening
        self.textIndex = textIndex
        self.socketActivated = socketActivated
        self.logger = logger
        refreshSnapshot()
    }

    func status(_ context: RequestContext) throws -> StatusResult {
        status(context, snapshot: try readSnapshot())
    }

    func status(_ context: RequestContext, snapshot: ServedSnapshot) -> StatusResult {
        let screening = self.screening.withLockedValue { $0 }
        var served = snapshot.served
        served?.reclustering = reclustering.withLockedValue { $0 }
        var result = StatusResult(
            daemon: DaemonInfo.name, version: DaemonInfo.version, protocolVersion: ProtocolInfo.version,
            pid: getpid(), uptimeSeconds: Date().timeIntervalSince(startedAt), socketActivated: socketActivated,
            tasks: snapshot.installed.count, generation: snapshot.generation,
            budget: budget.status(snapshot), quarantined: snapshot.quarantined,
            detector: DetectorInfo(model: screening.modelName, threshold: screening.threshold,
                                   behaviour: screening.behaviourSummary),
            peer: context.peerInfo, served: served)
        result.storage = storageStatus(snapshot)
        result.evaluator = evaluator.withLockedValue { $0 }
        return result
    }

    /// The `storage` part of `status`: read-only or not (checked now: a deleted catalog shows at
    /// once), the damaged objects of the snapshot, the last verify.
    func storageStatus(_ snapshot: ServedSnapshot) -> StorageStatus {
        let reason = store.readOnlyReason()
        return StorageStatus(readOnly: reason != nil, readOnlyReason: reason, damagedObjects: snapshot.damaged,
                             lastVerifiedAt: lastVerifiedAt.withLockedValue { $0 }.map(CatalogMapping.time))
    }

    func list() throws -> ListResult {
        let snapshot = try readSnapshot()
        return ListResult(tasks: snapshot.tasks, generation: snapshot.generation, budget: budget.status(snapshot))
    }

    func show(_ params: TaskParams) throws -> TaskDetail {
        guard let task = try store.task(named: params.task) else { throw Self.notFound(params.task) }
        let config = try store.read(task.adapter.configDigest)
        let examples = try store.examples(of: task)
        let preview = examples.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
            .prefix(3).map { String(decoding: $0, as: UTF8.self) }
        return TaskDetail(
            summary: CatalogMapping.summary(task, route: try store.route(task: task.name),
                                            examples: ExamplesFile.normalisedCount(examples)),
            verdict: CatalogMapping.verdict(task.adapter.verdict),
            dtype: task.adapter.dtype.rawValue,
            targetModules: CatalogMapping.targetModules(configJSON: config),
            profileHash: task.adapter.profileHash,
            previousVersions: Array(1..<max(1, task.version)),
            examplePreview: preview)
    }

    func route(_ params: RouteParams) throws -> RouteResult {
        guard params.text == nil else {
            throw ReadError(.invalidQuery, "route by text is the method \"route.text\"; \"route\" takes \"task\"")
        }
        guard let name = params.task else {
            throw ReadError(.invalidQuery, "route needs \"task\"")
        }
        return try routeTask(name)
    }

    /// Route by task name: the served adapter of the current generation, its cluster id, files,
    /// sha256, scale, and the task's retained quality.
    func routeTask(_ name: String) throws -> RouteResult {
        let snapshot = try readSnapshot()
        if let route = snapshot.routes[name] { return route }
        if let damage = snapshot.unservable[name] { throw ReadError(.taskNotServed, damage) }
        _ = try TaskName.validate(name)
        if snapshot.installed.contains(name) {
            throw ReadError(.taskNotServed, "task '\(name)' is installed but not served by the current generation")
        }
        throw Self.notFound(name)
    }

    func quarantineList() throws -> QuarantineListResult {
        QuarantineListResult(entries: try store.quarantine().map(CatalogMapping.quarantine))
    }

    static func notFound(_ task: String) -> ReadError {
        ReadError(.taskNotInstalled, "no task named '\(task)' is installed")
    }
}
