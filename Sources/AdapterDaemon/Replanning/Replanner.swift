import AdapterCore
import AdapterProtocol
import AdapterStore
import Foundation
import Logging
import NIOConcurrencyHelpers
import Synchronization

/// Every change of the served set: holds the lock that serialises changes of the catalog and the
/// served set (install, remove, budget, re-cluster, verify), and the planning thread on which plans
/// are made and generations written.
///
/// A change plans (on `planningThread`, nothing written), then writes one generation and switches
/// to it atomically; routing, status and list read the current generation throughout. A client that
/// disconnects does not cancel a change it started.
final class Replanner: Sendable {
    let store: AdapterStore
    let settings: NIOLockedValueBox<DaemonSettings>
    let budget: BudgetSetting
    let reads: ReadModel
    let planner: ServedSetPlanner
    /// Where plan and write durations are recorded.
    let metrics: DaemonMetrics
    let logger: Logger
    /// Serialises changes to the catalog and the served set, so a plan and the generation it leads
    /// to see the same tasks. Waiting suspends, never blocks a thread.
    let mutations = AsyncMutex()
    /// Runs planning, merging, scoring and generation writing off the cooperative pool.
    let planningThread = WorkerThread(name: "adapterd-planner", niceness: 10)
    /// The evaluator re-clustering uses (rebuilt when the settings change; the external one caches).
    let evaluator: NIOLockedValueBox<EvaluatorChoice>
    /// The base model the daemon runs (setting `base-model`; loaded again when its path changes).
    let baseModel: NIOLockedValueBox<BaseModelState>
    /// The tasks' input sketches for the data-aware evaluator.
    let sketches: InputSketchBook
    /// The plan of every task due after installs that placed their task (`install-plan`): one at a
    /// time, cancelled by every change (which schedules it again if still due), so it runs once for
    /// many installs.
    private let scheduledPlan = NIOLockedValueBox<Task<Void, Never>?>(nil)
    /// How long after the last change the scheduled plan of every task starts.
    let scheduledPlanDelay = NIOLockedValueBox(Duration.seconds(1))
    /// How many times freed memory was given back to the system (`releaseFreedMemory`).
    let memoryReleases = Atomic<Int>(0)

    init(store: AdapterStore, settings: NIOLockedValueBox<DaemonSettings>, budget: BudgetSetting, reads: ReadModel,
         metrics: DaemonMetrics, baseModel model: BaseModelState, logger: Logger) {
        self.store = store
        self.settings = settings
        self.budget = budget
        self.reads = reads
        self.planner = ServedSetPlanner(store: store, logger: logger)
        self.metrics = metrics
        self.logger = logger
        let current = settings.withLockedValue { $0 }
        if case .loaded(let loaded) = model { logger.info("base model: \(loaded.directory) (\(loaded.summary))") }
        self.baseModel = NIOLockedValueBox(model)
        self.evaluator = NIOLockedValueBox(EvaluatorFactory.make(current, baseModel: model, logger: logger))
        self.sketches = InputSketchBook(store: store, logger: logger)
        reads.evaluator.withLockedValue { [choice = evaluator.withLockedValue { $0 }] in
            $0 = EvaluatorInfo(name: choice.name, reason: choice.reason)
        }
    }

    deinit {
        scheduledPlan.withLockedValue { $0?.cancel() }
        planningThread.stop()
    }

    /// Makes the served set match the installed tasks and the budget (after a crash between an
    /// install's commit and its generation, a removal, or a budget stored just before a crash) and
    /// keeps it off damaged objects: plans and writes a new generation when the current one is stale.
    /// Called at start, before serving, and when damage is found. A plan that cannot be made (budget
    /// too small) is logged and the current generation stays; a read-only store is left as it is.
    func reconcile() async throws {
        if let reason = store.readOnlyReason() {
            logger.warning("read-only (\(reason)); the served set is not re-planned")
            return
        }
        do {
            try await mutating { try await reconcileHoldingLock() }
        } catch let error as StoreError where error.code.refusesChanges {
            logger.warning("the served set is not re-planned: \(error.message)")
        }
    }

    /// `reconcile` for a caller that holds `mutations` (and has prepared the store for a change).
    func reconcileHoldingLock() async throws {
        let budget = try self.budget.limit()
        guard try planner.isStale(budget: budget) else { return }
        logger.notice("the served set does not match the installed tasks, the budget or the damaged objects; re-planning it")
        do {
            let plan = try await replan(budget: budget, dryRun: false, context: nil)
            logger.notice("served set re-planned: generation \(plan.generation ?? 0), \(plan.clusterCount) served adapters")
        } catch let error as any RequestError {
            logger.error("cannot re-plan the served set: \(error)")
        }
    }

    /// Runs a change of the catalog or the served set holding `mutations`, then rebuilds the snapshot
    /// the reads answer from (whether the change succeeded or not: a failed one may have changed part).
    /// Refused with `read only` before it starts when the store cannot change safely (read-only,
    /// catalog lost, disk full with the space reserve gone); puts the space reserve back first.
    /// A scheduled plan of every task is cancelled first (it stops within one merge) and scheduled
    /// again after the change if the served set is still one placed at install.
    func mutating<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        // Not awaited: the planning thread runs queued planning work before closures, so waiting for
        // it could hold this change's answer until the next queued change has planned.
        defer { Task { await self.releaseFreedMemory() } }
        scheduledPlan.withLockedValue { $0?.cancel() }
        return try await mutations.withLock {
            defer {
                reads.refreshSnapshot()
                if servesPlacedTasks() { scheduleFullPlan() }
            }
            try store.prepareForChange()
            return try await body()
        }
    }

    // MARK: Placing at install

    /// The plan of an install, holding `mutations`: the new task placed into the served set in force
    /// when `install-plan` says so and the adapters do not all fit as they are (`ServedSetPlacement`;
    /// every task is planned again in the background afterwards), else a plan of every task.
    func planInstall(_ pending: ServedSetPlanner.Input, budget: Budget, context: RequestContext) async throws
        -> (plan: ServedSetPlanner.Plan, placement: String?) {
        let installed = try planner.inputs()
        let others = installed.filter { $0.name != pending.name }
        let installedBytes = others.reduce(Int64(pending.ownBytes)) { $0 + Int64($1.ownBytes) }
        let kind = settings.withLockedValue { $0.installPlan }
        if kind.places(installedBytes: installedBytes, installedTasks: others.count + 1), !budget.fits(installedBytes) {
            await context.progress(stage: "planning", fraction: 0.75, message: "placing '\(pending.name)' into the served set")
            let evaluator = self.evaluator.withLockedValue { $0 }.evaluators(for: others + [pending], book: sketches).primary
            let placement = ServedSetPlacement(store: store, planner: configuredPlanner)
            do {
                let outcome = try await metrics.timing(metrics.replanPlanning) {
                    try await planningThread.withPreference {
                        try await placement.plan(pending, installed: installed, budget: budget, evaluator: evaluator)
                    }
                }
                if let outcome {
                    logger.notice("placed '\(pending.name)' \(outcome.home) (\(outcome.considered)); every task is planned again in the background")
                    return (outcome.plan, outcome.home)
                }
                logger.info("'\(pending.name)' cannot be placed into the served set in force; planning every task")
            } catch let error as CancellationError {
                throw error
            } catch {
                logger.warning("placing '\(pending.name)' failed (\(error)); planning every task")
            }
        }
        return (try await makePlan(budget: budget, dryRun: false, pending: pending, context: context, range: 0.7...0.95), nil)
    }

    /// The plan of every task, written unless the placed served set in force scores higher by the same
    /// evaluator: then that set is written again as it is (policy `placed-kept`), so it is not planned again.
    private func planAfterPlacing() async throws -> PlanResult {
        let budget = try self.budget.limit()
        let current = try store.currentGeneration()
        let plan = try await makePlan(budget: budget, dryRun: false, pending: nil, context: nil)
        if let current, let placedMean = current.meanRetainedQuality, current.evaluator == plan.result.evaluator,
           plan.result.meanRetainedQuality + 1e-9 < placedMean {
            let placement = ServedSetPlacement(store: store, planner: configuredPlanner)
            if let kept = try await onPlanningThread({ try placement.keepingCurrent(budget: budget) }) {
                let means = String(format: "%.3f, below the placed served set's %.3f", plan.result.meanRetainedQuality, placedMean)
                logger.notice("the plan of every task keeps a mean retained quality of \(means) by \(plan.result.evaluator): the placed served set stays")
                return try await write(kept, budget: budget, context: nil, at: 0.9)
            }
        }
        return try await write(plan, budget: budget, context: nil, at: 0.9)
    }

    /// The served-set planner with the settings in force (the dtype merged adapters are written in).
    private var configuredPlanner: ServedSetPlanner {
        var planner = self.planner
        planner.dtype = settings.withLockedValue { $0.mergedDType }
        return planner
    }

    /// Whether the current generation is one an install placed its task into (a plan of every task is due).
    /// Read from the snapshot every change rebuilds (the catalog only when there is none).
    func servesPlacedTasks() -> Bool {
        if let snapshot = reads.snapshot.withLockedValue({ $0 }) { return snapshot.served?.policy == PlacementPolicy.placed }
        guard let current = try? store.currentGeneration(),
              let summary = try? current.planSummary(as: PlanResult.self) else { return false }
        return summary.policy == PlacementPolicy.placed
    }

    /// Schedules the plan of every task `scheduledPlanDelay` from now, replacing (cancelling) one scheduled before:
    /// installs that arrive meanwhile push it back, so it runs once they settle.
    func scheduleFullPlan() {
        let delay = scheduledPlanDelay.withLockedValue { $0 }
        let task = Task { [weak self] in
            do { try await Task.sleep(for: delay) } catch { return }
            await self?.runScheduledFullPlan()
        }
        scheduledPlan.withLockedValue { $0?.cancel(); $0 = task }
    }

    /// The scheduled plan of every task: made and written holding `mutations` like any change, but
    /// cancelled by the next change (which then schedules it again).
    private func runScheduledFullPlan() async {
        defer { Task { await self.releaseFreedMemory() } }
        do {
            try await mutations.withLock {
                defer { reads.refreshSnapshot() }
                try Task.checkCancellation()
                guard store.readOnlyReason() == nil, servesPlacedTasks() else { return }
                try store.prepareForChange()
                logger.notice("planning every task again: the served set holds tasks placed at install")
                _ = try await planAfterPlacing()   // write() logs the generation made current
            }
        } catch is CancellationError {
            logger.info("the plan of every task gave way to a newer change; it is scheduled again after it")
        } catch {
            logger.error("cannot plan every task again: \(error); the served set with placed tasks stays until the next change or adapterctl recluster")
        }
    }

    /// After a change: while a plan of every task is still due (installs placed their tasks, more may
    /// follow), drops the decoded adapters (and their placement Gram blocks) neither an installed task
    /// nor the served set in force holds, and keeps the freed memory for the next install and that
    /// plan; otherwise drops every decoded adapter and gives the freed memory back to the system, on
    /// the (niced) planning thread. (Memory given back between the installs of a burst is taken
    /// again by the next one, page fault by page fault.)
    func releaseFreedMemory() async {
        if servesPlacedTasks(), let tasks = try? store.tasks(), let current = try? store.currentGeneration() {
            planner.decoded.keep(onlyWeights: Set(tasks.map(\.adapter.weightsDigest) + current.servedAdapters.map(\.weightsDigest)))
            return
        }
        planner.decoded.removeAll()
        _ = try? await planningThread.run { MemoryTrim.releaseFreedMemory() }
        memoryReleases.add(1, ordering: .relaxed)
    }

    /// Applies reloaded settings: the base model loaded again when its path or precision changed, a new
    /// evaluator when either changed, and a re-plan in the background (routing goes on) when the
    /// configured budget changed.
    func settingsChanged(from old: DaemonSettings, to new: DaemonSettings) {
        var model = baseModel.withLockedValue { $0 }
        let modelChanged = (old.baseModel, old.runtimePrecision) != (new.baseModel, new.runtimePrecision)
        if modelChanged {
            model = BaseModelState.make(new, reusing: model)
            baseModel.withLockedValue { $0 = model }
            if case .loaded(let loaded) = model { logger.notice("base model: \(loaded.directory) (\(loaded.summary))") }
        }
        if modelChanged || (old.evaluator, old.evaluatorCommand, old.evaluatorTimeoutSeconds)
            != (new.evaluator, new.evaluatorCommand, new.evaluatorTimeoutSeconds) {
            let choice = EvaluatorFactory.make(new, baseModel: model, logger: logger)
            evaluator.withLockedValue { $0 = choice }
            reads.evaluator.withLockedValue { $0 = EvaluatorInfo(name: choice.name, reason: choice.reason) }
        }
        if old.budget != new.budget {
            Task { try? await self.reconcile() }
        }
    }

    /// Makes an install's input sketch (one forward pass of the base model over its examples, on the
    /// planning thread) when merges are scored data-aware, so that it is there for this plan and every
    /// later one. Best effort: a sketch that cannot be made is said in the plan's note.
    func sketchAtInstall(_ pending: ServedSetPlanner.Input, context: RequestContext) async {
        guard let model = evaluator.withLockedValue({ $0 }).sketchingModel else { return }
        await context.progress(stage: "sketching", fraction: 0.7,
                               message: "recording what the examples feed the base model (\(model.summary))")
        let book = sketches
        _ = try? await onPlanningThread { _ = try? book.sketch(of: pending, adapter: try pending.load(), model: model) }
    }

    /// Keeps what an install brought once its task is in the catalog as `task`: the sketch
    /// `sketchAtInstall` made, stored, and the adapter as decoded from the request (the placements and
    /// the plan after the install would otherwise read, hash and decode it again).
    func installed(_ input: ServedSetPlanner.Input, as task: InstalledTask, decoded adapter: LoRAAdapter) {
        planner.decoded.keep(adapter, config: task.adapter.configDigest, weights: task.adapter.weightsDigest)
        guard let model = evaluator.withLockedValue({ $0 }).sketchingModel else { return }
        sketches.persist(input, model: model)
    }

    /// Plans and (unless `dryRun`) writes the served set of the installed tasks. Call holding `mutations`.
    func replan(budget: Budget, dryRun: Bool, context: RequestContext?) async throws -> PlanResult {
        let plan = try await makePlan(budget: budget, dryRun: dryRun, pending: nil, context: context, range: 0...0.9)
        if dryRun { return plan.result }
        return try await write(plan, budget: budget, context: context, at: 0.9)
    }

    /// Plans the served set of the installed tasks (with `pending` added or replacing its namesake) on
    /// the planning thread, forwarding progress as `planning` notifications mapped into `range`.
    /// Tasks whose stored adapter is damaged are left out (a damaged one found while loading is left
    /// out and the plan made again); they are reported in `status`, not served, not merged from.
    func makePlan(budget: Budget, dryRun: Bool, pending: ServedSetPlanner.Input?, context: RequestContext?,
                  range: ClosedRange<Double> = 0...0.9) async throws -> ServedSetPlanner.Plan {
        try await metrics.timing(metrics.replanPlanning) {
            var excluded = Set<String>()
            while true {
                do {
                    return try await makePlan(budget: budget, dryRun: dryRun, pending: pending, excluding: excluded,
                                              context: context, range: range)
                } catch let damaged as ServedSetPlanner.DamagedInput where !excluded.contains(damaged.task) {
                    logger.error("task \(damaged.task) is left out of the served set: \(damaged.message)")
                    excluded.insert(damaged.task)
                }
            }
        }
    }

    private func makePlan(budget: Budget, dryRun: Bool, pending: ServedSetPlanner.Input?, excluding excluded: Set<String>,
                          context: RequestContext?, range: ClosedRange<Double>) async throws -> ServedSetPlanner.Plan {
        var inputs = try self.planner.inputs().filter { !excluded.contains($0.name) }
        if let pending {
            inputs.removeAll { $0.name == pending.name }
            inputs.append(pending)
        }
        let choice = self.evaluator.withLockedValue { $0 }
        let book = sketches
        let planner = configuredPlanner
        let (progress, forwarder) = Self.progressForwarder(context, range: range)
        reads.reclustering.withLockedValue { $0 = true }
        defer { reads.reclustering.withLockedValue { $0 = false } }
        defer { progress.finish() }
        let plan = try await planningThread.withPreference { [inputs, planner] in
            let evaluators = choice.evaluators(for: inputs, book: book)
            return try await planner.plan(inputs, budget: budget, evaluators: evaluators, dryRun: dryRun) { fraction, message in
                progress.yield((fraction, message))
            }
        }
        progress.finish()
        await forwarder.value
        return plan
    }

    /// A stream whose (fraction, message) pairs become `planning` notifications mapped into `range`.
    private static func progressForwarder(_ context: RequestContext?, range: ClosedRange<Double>)
        -> (AsyncStream<(Double, String)>.Continuation, Task<Void, Never>) {
        let (stream, continuation) = AsyncStream.makeStream(of: (Double, String).self, bufferingPolicy: .bufferingNewest(64))
        let forwarder = Task {
            for await (fraction, message) in stream {
                let mapped = range.lowerBound + (range.upperBound - range.lowerBound) * min(1, max(0, fraction))
                await context?.progress(stage: "planning", fraction: mapped, message: message)
            }
        }
        return (continuation, forwarder)
    }

    /// Writes a plan as the new current generation (on the planning thread). `storing` (when given)
    /// is the budget to store with it, in the same transaction.
    func write(_ plan: ServedSetPlanner.Plan, budget: Budget, storing: Budget? = nil, context: RequestContext?,
               at fraction: Double) async throws -> PlanResult {
        let planner = self.planner
        if plan.result.kind == "clustered" {
            await context?.progress(stage: "writing", fraction: fraction,
                                    message: "writing \(plan.result.clusterCount) served adapter\(plan.result.clusterCount == 1 ? "" : "s") as a new generation")
        }
        reads.reclustering.withLockedValue { $0 = true }
        defer { reads.reclustering.withLockedValue { $0 = false } }
        let settings = storing.map { [SettingKey.budgetBytes: AdapterStore.settingText($0)] } ?? [:]
        let result = try await metrics.timing(metrics.replanWriting) {
            try await onPlanningThread { try planner.apply(plan, budget: budget, settings: settings) }
        }
        logger.notice("\(Self.summary(of: result))")
        return result
    }

    /// The log line of a generation made current.
    private static func summary(of result: PlanResult) -> String {
        let limit = result.budget.formatted()
        let quality = String(format: "%.3f", result.meanRetainedQuality)
        let note: String = result.evaluatorNote.map { " (\($0))" } ?? ""
        return "generation \(result.generation ?? 0) is current: \(result.clusterCount) served adapters "
            + "(\(result.kind)), \(ByteSize.format(result.totalBytes)) of \(limit), mean retained quality "
            + "\(quality) by \(result.evaluator)\(note)"
    }

    /// Runs a store call on the planning thread.
    func onPlanningThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await planningThread.run(body)
    }
}
