import AdapterCore
#if canImport(Glibc)
import Glibc
#endif
import AdapterProtocol
import AdapterStore
import Foundation
import Logging
import NIOConcurrencyHelpers

/// The daemon's request handlers: everything a method does, on top of the store, the screening
/// step and the served-set planner. Reads run concurrently; changes to the catalog are serialised.
public final class AdapterService: Sendable {
    let store: AdapterStore
    let screening: NIOLockedValueBox<any Screening>
    let settings: NIOLockedValueBox<DaemonSettings>
    /// The budget given on the command line (`--budget`; `.some(nil)`: unlimited): the initial budget,
    /// in force until one is set at run time (`budget.set`, `recluster --budget`), which is stored and
    /// wins from then on, across restarts. The configuration file's budget comes after both.
    let budgetOverride: Int64??
    let planner: ServedSetPlanner
    /// Task embeddings for `route.text` (AdapterService+TextRoute.swift).
    let textIndex: TaskEmbeddingIndex
    let logger: Logger
    let startedAt = Date()
    let socketActivated: Bool
    /// Serialises changes to the catalog and the served set (install, remove, budget, recluster), so a
    /// plan and the generation it leads to see the same tasks. Waiting suspends, never blocks a thread.
    let mutations = AsyncMutex()
    /// Runs planning, merging, scoring and generation writing off the cooperative pool.
    let planningThread = WorkerThread(name: "adapterd-planner", niceness: 10)
    /// Runs the per-request heavy work of install (parse, signature, screening) and export.
    let requestThread = WorkerThread(name: "adapterd-requests")
    /// The evaluators re-clustering uses (rebuilt when the settings change; the external one caches).
    let evaluators: NIOLockedValueBox<ServedSetPlanner.Evaluators>
    /// True while a re-cluster is planned or written.
    let reclustering = NIOLockedValueBox(false)
    /// Evaluator name of a generation, cached for `route`.
    let generationEvaluator = NIOLockedValueBox<(id: Int64, name: String)?>(nil)
    /// What `route`, `list` and `status` answer (ServedSnapshot.swift); nil after a failed rebuild.
    let snapshot = NIOLockedValueBox<ServedSnapshot?>(nil)
    /// `status` encoded but for its peer and uptime, for the current values of everything else.
    let statusTemplate = NIOLockedValueBox<EncodedStatusTemplate?>(nil)
    /// Number of examples by the examples file's digest, counted once per file.
    let exampleCounts = NIOLockedValueBox<[ContentDigest: Int]>([:])
    /// When `verify` last finished (AdapterService+Storage.swift).
    let lastVerifiedAt = NIOLockedValueBox<Date?>(nil)

    public init(store: AdapterStore, screening: any Screening, settings: DaemonSettings, budgetOverride: Int64??,
                socketActivated: Bool, logger: Logger) {
        self.store = store
        self.screening = NIOLockedValueBox(screening)
        self.settings = NIOLockedValueBox(settings)
        self.budgetOverride = budgetOverride
        self.planner = ServedSetPlanner(store: store, logger: logger)
        self.textIndex = TaskEmbeddingIndex(store: store, kind: settings.textEmbedder, minilmDirectory: settings.minilmDirectory, logger: logger)
        self.socketActivated = socketActivated
        self.logger = logger
        self.evaluators = NIOLockedValueBox(Self.makeEvaluators(settings, logger: logger))
        refreshSnapshot()
    }

    deinit {
        planningThread.stop()
        requestThread.stop()
    }

    /// The method table serving this service.
    public func methods() -> MethodTable {
        var table = MethodTable()
        table.registerEncoded(Methods.Status.self, immediate: { _, context in
            self.hasSnapshot ? try self.encodedStatus(context) : nil
        }) { _, context in try self.encodedStatus(context) }
        table.register(Methods.Install.self) { params, context in try await self.install(params, context) }
        table.registerEncoded(Methods.List.self, immediate: { _, _ in
            self.hasSnapshot ? try self.encodedList() : nil
        }) { _, _ in try self.encodedList() }
        table.register(Methods.Show.self) { params, _ in try self.show(params) }
        table.register(Methods.Remove.self) { params, context in try await self.remove(params, context) }
        table.registerEncoded(Methods.Route.self, immediate: { params, _ in
            self.hasSnapshot ? try self.encodedRoute(params) : nil
        }) { params, _ in try self.encodedRoute(params) }
        table.register(Methods.RouteText.self) { params, _ in try await self.routeText(params) }
        table.register(Methods.QuarantineList.self) { _, _ in try self.quarantineList() }
        table.register(Methods.ConfigGet.self) { _, _ in self.configGet() }
        table.register(Methods.BudgetSet.self) { params, context in try await self.budgetSet(params, context) }
        table.register(Methods.Recluster.self) { params, context in try await self.recluster(params, context) }
        table.register(Methods.Export.self) { params, _ in try await self.export(params) }
        table.register(Methods.Verify.self) { _, context in try await self.verify(context) }
        return table
    }

    /// Applies reloaded settings and screening (SIGHUP).
    public func reload(settings newSettings: DaemonSettings, screening newScreening: any Screening) {
        let old = settings.withLockedValue { old in
            defer { old = newSettings }
            return old
        }
        screening.withLockedValue { $0 = newScreening }
        if (old.evaluator, old.evaluatorCommand, old.evaluatorTimeoutSeconds)
            != (newSettings.evaluator, newSettings.evaluatorCommand, newSettings.evaluatorTimeoutSeconds) {
            evaluators.withLockedValue { $0 = Self.makeEvaluators(newSettings, logger: logger) }
        }
        if old.budgetBytes != newSettings.budgetBytes {
            // A served set over the new budget is re-planned in the background (routing goes on).
            Task { try? await self.reconcile() }
        }
    }

    /// Makes the served set match the installed tasks and the budget (after a crash between an
    /// install's commit and its generation, a removal, or a budget stored just before a crash) and
    /// keeps it off damaged objects: plans and writes a new generation when the current one is stale.
    /// Called at start, before serving, and when damage is found. A plan that cannot be made (budget
    /// too small) is logged and the current generation stays; a read-only store is left as it is.
    public func reconcile() async throws {
        if let reason = store.readOnlyReason() {
            logger.warning("read-only (\(reason)); the served set is not re-planned")
            return
        }
        do {
            try await mutating { try await reconcileHoldingLock() }
        } catch let error as RPCError where error.code == .readOnly {
            logger.warning("the served set is not re-planned: \(error.message)")
        }
    }

    /// `reconcile` for a caller that holds `mutations` (and has prepared the store for a change).
    func reconcileHoldingLock() async throws {
        let budget = try translating { try budgetLimit() }
        guard try translating({ try planner.isStale(budget: budget) }) else { return }
        logger.notice("the served set does not match the installed tasks, the budget or the damaged objects; re-planning it")
        do {
            let plan = try await replan(budget: budget, dryRun: false, context: nil)
            logger.notice("served set re-planned: generation \(plan.generation ?? 0), \(plan.clusterCount) served adapters")
        } catch let error as RPCError {
            logger.error("cannot re-plan the served set: \(error.message)")
        }
    }

    /// Runs a change of the catalog or the served set holding `mutations`, then rebuilds the snapshot
    /// the reads answer from (whether the change succeeded or not: a failed one may have changed part).
    /// Refused with `read only` before it starts when the store cannot change safely (read-only,
    /// catalog lost, disk full with the space reserve gone); puts the space reserve back first.
    func mutating<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        // Not awaited: the planning thread runs queued planning work before closures, so waiting for
        // it could hold this change's answer until the next queued change has planned.
        defer { Task { await self.releaseFreedMemory() } }
        return try await mutations.withLock {
            defer { refreshSnapshot() }
            try translating { try store.prepareForChange() }
            return try await body()
        }
    }

    /// Gives the memory a change freed back to the system. An install or re-cluster allocates and
    /// frees hundreds of MiB (frames, decoded weights, merges) on several threads; glibc keeps the
    /// freed pages in its arenas, so the daemon's RSS stayed at its peak (208 MiB after 60 installs,
    /// 62 MiB after `malloc_trim(0)`). Runs on the (niced) planning thread, after the change.
    func releaseFreedMemory() async {
        #if canImport(Glibc)
        guard let trim = Self.mallocTrim else { return }
        _ = try? await planningThread.run { trim(0) }
        #endif
    }

    #if canImport(Glibc)
    /// glibc's `malloc_trim` (malloc.h is not in the Glibc module), looked up once.
    static let mallocTrim: (@convention(c) (Int) -> Int32)? = dlsym(nil, "malloc_trim")
        .map { unsafeBitCast($0, to: (@convention(c) (Int) -> Int32).self) }
    #endif

    // MARK: Budget

    /// The budget in force: the one set at run time (`budget.set`, `recluster --budget`; stored), else
    /// the command line's (`--budget`, the initial budget), else the configuration file's.
    func budgetLimit() throws -> Int64? {
        budgetLimit(stored: try store.budgetBytes())
    }

    /// The budget in force given the one stored with `budget.set` (`Int.max` for unlimited).
    func budgetLimit(stored: Int?) -> Int64? {
        if let stored {
            return stored == Int.max ? nil : Int64(stored)
        }
        if let budgetOverride { return budgetOverride }
        return settings.withLockedValue { $0.budgetBytes }
    }

    /// Where the budget in force comes from (`BudgetStatus.source`).
    func budgetSource(stored: Int?) -> String {
        if stored != nil { return "budget.set" }
        return budgetOverride != nil ? "--budget" : "configuration"
    }

    /// The budget as the snapshot's reads report it.
    func budgetStatus(_ snapshot: ServedSnapshot) -> BudgetStatus {
        BudgetStatus(limitBytes: budgetLimit(stored: snapshot.storedBudgetBytes), servedBytes: snapshot.servedBytes,
                     archiveBytes: snapshot.archiveBytes, source: budgetSource(stored: snapshot.storedBudgetBytes))
    }

    func budgetStatus() throws -> BudgetStatus {
        let stored = try store.budgetBytes()
        return BudgetStatus(limitBytes: budgetLimit(stored: stored), servedBytes: Int64(try store.servedBytes()),
                            archiveBytes: Int64(try store.archiveBytes()), source: budgetSource(stored: stored))
    }

    /// Logs, at start, when a budget set at run time is in force instead of the `--budget` flag.
    public func noteBudgetSource() {
        guard let override = budgetOverride, let stored = try? store.budgetBytes() else { return }
        let flag = override.map(ByteSize.format) ?? "unlimited"
        let inForce = stored == Int.max ? "unlimited" : ByteSize.format(Int64(stored))
        logger.notice("\("the budget set at run time (\(inForce)) is in force; --budget \(flag) is only the initial budget (`adapterctl budget \(flag)` sets it again)")")
    }

    // MARK: Read-only methods

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
            budget: budgetStatus(snapshot), quarantined: snapshot.quarantined,
            detector: DetectorInfo(model: screening.modelName, threshold: screening.threshold),
            peer: context.peerInfo, served: served)
        result.storage = storageStatus(snapshot)
        return result
    }

    func list() throws -> ListResult {
        let snapshot = try readSnapshot()
        return ListResult(tasks: snapshot.tasks, generation: snapshot.generation, budget: budgetStatus(snapshot))
    }

    func show(_ params: TaskParams) throws -> TaskDetail {
        try translating {
            guard let task = try store.task(named: params.task) else { throw Self.notFound(params.task) }
            let config = try store.read(task.adapter.configDigest)
            let examples = try store.examples(of: task)
            let preview = examples.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
                .prefix(3).map { String(decoding: $0, as: UTF8.self) }
            return TaskDetail(
                summary: CatalogMapping.summary(task, route: try store.route(task: task.name),
                                                examples: CatalogMapping.exampleCount(examples)),
                verdict: CatalogMapping.verdict(task.adapter.verdict),
                dtype: task.adapter.dtype.rawValue,
                targetModules: CatalogMapping.targetModules(configJSON: config),
                profileHash: task.adapter.profileHash,
                previousVersions: Array(1..<max(1, task.version)),
                examplePreview: preview)
        }
    }

    func route(_ params: RouteParams) throws -> RouteResult {
        guard params.text == nil else {
            throw RPCError(code: .invalidParams, message: "route by text is the method \"route.text\"; \"route\" takes \"task\"")
        }
        guard let name = params.task else {
            throw RPCError(code: .invalidParams, message: "route needs \"task\"")
        }
        return try routeTask(name)
    }

    /// Route by task name: the served adapter of the current generation, its cluster id, files,
    /// sha256, scale, and the task's retained quality.
    func routeTask(_ name: String) throws -> RouteResult {
        let snapshot = try readSnapshot()
        if let route = snapshot.routes[name] { return route }
        if let damage = snapshot.unservable[name] { throw RPCError(code: .notFound, message: damage) }
        _ = try translating { try TaskName.validate(name) }
        if snapshot.installed.contains(name) {
            throw RPCError(code: .notFound, message: "task '\(name)' is installed but not served by the current generation")
        }
        throw Self.notFound(name)
    }

    func quarantineList() throws -> QuarantineListResult {
        try translating { QuarantineListResult(entries: try store.quarantine().map(CatalogMapping.quarantine)) }
    }

    func configGet() -> ConfigResult {
        let settings = self.settings.withLockedValue { $0 }
        let budget = (try? budgetLimit()) ?? settings.budgetBytes
        return ConfigResult(
            configFile: settings.configFile, socket: settings.socketPath, stateDir: settings.stateDirectory,
            budgetBytes: budget, detectorModel: settings.detectorModel, detectorThreshold: settings.detectorThreshold, adminGroup: settings.adminGroup,
            maxConnections: settings.maxConnections, maxAdapterBytes: settings.maxAdapterBytes,
            maxFrameBytes: settings.maxFrameBytes, maxReadOnlyFrameBytes: settings.maxReadOnlyFrameBytes,
            idleTimeoutSeconds: settings.idleTimeoutSeconds,
            textEmbedder: settings.textEmbedder.rawValue, minilmDir: settings.minilmDirectory,
            evaluator: settings.evaluator.rawValue,
            evaluatorCommand: settings.evaluatorCommand.isEmpty ? nil : settings.evaluatorCommand,
            evaluatorTimeoutSeconds: settings.evaluatorTimeoutSeconds)
    }

    // MARK: Mutating methods

    /// Removes a task and re-plans the served set without it, all or nothing: when the new served set
    /// cannot be written, the removal is undone and the error says so (the task stays installed and
    /// served as before).
    func remove(_ params: TaskParams, _ context: RequestContext) async throws -> RemoveResult {
        defer { textIndex.refresh(task: params.task) }  // route-by-text re-reads the task from the catalog
        return try await mutating {
            guard let previous = try translating({ try store.task(named: params.task) }) else { throw Self.notFound(params.task) }
            let before = try translating { try store.currentGeneration()?.id ?? 0 }
            let removed = try translating { try store.removeTask(named: params.task) }
            refreshSnapshot()  // the task stops being routed now, not once the re-plan is written
            let generation: Int64
            do {
                generation = try await replan(budget: try translating { try budgetLimit() }, dryRun: false,
                                              context: context).generation ?? before
            } catch {
                throw await undoRemoval(previous, generationBefore: before, after: error)
            }
            logger.notice("removed task \(params.task) version \(removed.version)", metadata: ["peer": "\(context.peer)"])
            return RemoveResult(task: removed.name, version: removed.version, generation: generation,
                                budget: try translating { try budgetStatus() })
        }
    }

    /// Puts back a task whose removal could not be followed by a new served set, so that the error
    /// means "nothing changed". Returns the error to send.
    func undoRemoval(_ previous: InstalledTask, generationBefore: Int64, after error: any Error) async -> any Error {
        let store = self.store
        let reason = (error as? RPCError)?.message ?? "\(error)"
        let code = (error as? RPCError)?.code ?? .internalError
        let attempt = "cannot re-plan the served set without '\(previous.name)': \(reason)"
        // A failure after the new generation became current leaves a finished removal: keep it.
        if let current = try? store.currentGeneration()?.id, current != generationBefore { return error }
        do {
            try await planningThread.run {
                do {
                    try store.restoreTask(previous)
                } catch {
                    // A full disk: SQLite needs a few free pages even to insert; use the space reserve.
                    guard store.releaseSpaceReserve() else { throw error }
                    try store.restoreTask(previous)
                }
                store.ensureSpaceReserve()
            }
        } catch let undo {
            logger.error("\(attempt); undoing the removal failed too: \(undo)")
            return RPCError(code: code, message: "\(attempt); undoing the removal failed (\(undo)), so '\(previous.name)' is "
                                + "removed and no longer routed, and the served set is re-planned at the next change or start")
        }
        logger.error("\(attempt); removal undone")
        return RPCError(code: code, message: "\(attempt); nothing changed: '\(previous.name)' is still version "
                            + "\(previous.version), served as before")
    }

    /// Sets the budget and re-plans the served set for it, all or nothing: the budget is stored in the
    /// same transaction that makes the new generation current, so a plan that cannot be made or
    /// written leaves the budget in force and the served set as they were.
    func budgetSet(_ params: BudgetSetParams, _ context: RequestContext) async throws -> BudgetStatus {
        if let bytes = params.bytes, bytes < 0 {
            throw RPCError(code: .invalidParams, message: "a budget cannot be negative")
        }
        return try await mutating {
            let wanted = params.bytes.map(ByteSize.format) ?? "unlimited"
            do {
                // Plan first: a budget that cannot hold the tasks changes nothing.
                let plan = try await makePlan(budget: params.bytes, dryRun: false, pending: nil, context: context)
                _ = try await write(plan, budget: params.bytes, storing: params.bytes, context: context, at: 0.9)
            } catch let error as RPCError {
                let inForce = (try? budgetLimit()).map { $0.map(ByteSize.format) ?? "unlimited" } ?? "unchanged"
                throw RPCError(code: error.code, message: "cannot set the budget to \(wanted): \(error.message); "
                                   + "nothing changed: the budget is still \(inForce)", data: error.data)
            }
            logger.notice("budget set to \(wanted)", metadata: ["peer": "\(context.peer)"])
            return try translating { try budgetStatus() }
        }
    }

    // MARK: Errors

    static func notFound(_ task: String) -> RPCError {
        RPCError(code: .notFound, message: "no task named '\(task)' is installed")
    }

    /// Runs `body`, turning store errors into protocol errors.
    func translating<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as StoreError {
            throw CatalogMapping.rpcError(error)
        }
    }
}
