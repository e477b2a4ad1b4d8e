import AdapterCore
import AdapterProtocol
import AdapterStore
import Foundation
import Logging

/// Re-clustering (on demand and after every change of tasks or budget), export of served adapters,
/// and the served set as `status` shows it.
///
/// Every change of the served set runs under `mutations`: plan (on `planningThread`, nothing written),
/// then write one generation and switch to it atomically. Routing, status and list read the current
/// generation throughout. A client that disconnects does not cancel a re-cluster it started.
extension AdapterService {
    /// The evaluators for `settings`: weight-space, or the command (cached by the merged adapter's
    /// sha256 and the task's version) falling back to weight-space when it fails.
    static func makeEvaluators(_ settings: DaemonSettings, logger: Logger) -> ServedSetPlanner.Evaluators {
        switch settings.evaluator {
        case .weightSpace:
            return .init(primary: WeightSpaceEvaluator(), fallback: nil)
        case .command:
            do {
                let external = try ExternalCommandEvaluator(
                    arguments: settings.evaluatorCommand, timeout: settings.evaluatorTimeoutSeconds)
                let cached = CachingEvaluator(external) { adapter in
                    // The sha256 of the F16 weights file the adapter is written as.
                    (try? PEFTAdapterWriter.serialize(adapter, dtype: .f16)).map { ContentDigest.of($0.weights).hex }
                        ?? AdapterFingerprint.of(adapter)
                }
                return .init(primary: cached, fallback: WeightSpaceEvaluator())
            } catch {
                logger.error("evaluator-command cannot be used (\(error)); re-clustering uses weight-space scores")
                return .init(primary: WeightSpaceEvaluator(), fallback: nil)
            }
        }
    }

    // MARK: recluster

    func recluster(_ params: ReclusterParams, _ context: RequestContext) async throws -> PlanResult {
        if let bytes = params.budget, bytes < 0 {
            throw RPCError(code: .invalidParams, message: "a budget cannot be negative")
        }
        if params.dryRun {
            // A dry run changes nothing, so it runs on a read-only store too.
            defer { Task { await self.releaseFreedMemory() } }
            return try await mutations.withLock {
                let budget = try params.budget ?? translating { try budgetLimit() }
                let plan = try await makePlan(budget: budget, dryRun: true, pending: nil, context: context, range: 0...0.9)
                await context.progress(stage: "done", fraction: 1, message: "planned (dry run)")
                return plan.result
            }
        }
        return try await mutating {
            let budget = try params.budget ?? translating { try budgetLimit() }
            let plan = try await makePlan(budget: budget, dryRun: params.dryRun, pending: nil, context: context,
                                          range: 0...0.9)
            // A given budget is stored with the new generation, in one transaction (both or neither).
            let result = try await write(plan, budget: budget, storing: params.budget.map { .some($0) }, context: context, at: 0.9)
            if let bytes = params.budget {
                logger.notice("budget set to \(ByteSize.format(bytes)) by recluster", metadata: ["peer": "\(context.peer)"])
            }
            await context.progress(stage: "done", fraction: 1, message: "generation \(result.generation ?? 0) is current")
            return result
        }
    }

    /// Plans and (unless `dryRun`) writes the served set of the installed tasks. Call holding `mutations`.
    func replan(budget: Int64?, dryRun: Bool, context: RequestContext?) async throws -> PlanResult {
        let plan = try await makePlan(budget: budget, dryRun: dryRun, pending: nil, context: context, range: 0...0.9)
        if dryRun { return plan.result }
        return try await write(plan, budget: budget, context: context, at: 0.9)
    }

    /// Plans the served set of the installed tasks (with `pending` added or replacing its namesake) on
    /// the planning thread, forwarding progress as `planning` notifications mapped into `range`.
    /// Tasks whose stored adapter is damaged are left out (a damaged one found while loading is left
    /// out and the plan made again); they are reported in `status`, not served, not merged from.
    func makePlan(budget: Int64?, dryRun: Bool, pending: ServedSetPlanner.Input?, context: RequestContext?,
                  range: ClosedRange<Double> = 0...0.9) async throws -> ServedSetPlanner.Plan {
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

    private func makePlan(budget: Int64?, dryRun: Bool, pending: ServedSetPlanner.Input?, excluding excluded: Set<String>,
                          context: RequestContext?, range: ClosedRange<Double>) async throws -> ServedSetPlanner.Plan {
        var stored = try translating { try self.planner.inputs() }.filter { !excluded.contains($0.name) }
        if let pending {
            stored.removeAll { $0.name == pending.name }
            stored.append(pending)
        }
        let inputs = stored
        let evaluators = self.evaluators.withLockedValue { $0 }
        var planner = self.planner
        planner.dtype = settings.withLockedValue { $0.mergedDType }
        let configured = planner
        let (stream, continuation) = AsyncStream.makeStream(of: (Double, String).self,
                                                            bufferingPolicy: .bufferingNewest(64))
        let forwarder = Task {
            for await (fraction, message) in stream {
                let mapped = range.lowerBound + (range.upperBound - range.lowerBound) * min(1, max(0, fraction))
                await context?.progress(stage: "planning", fraction: mapped, message: message)
            }
        }
        reclustering.withLockedValue { $0 = true }
        defer { reclustering.withLockedValue { $0 = false } }
        do {
            let plan = try await planningThread.withPreference {
                try await configured.plan(inputs, budget: budget, evaluators: evaluators, dryRun: dryRun) { fraction, message in
                    continuation.yield((fraction, message))
                }
            }
            continuation.finish()
            await forwarder.value
            return plan
        } catch let error as StoreError {
            continuation.finish()
            throw CatalogMapping.rpcError(error)
        } catch {
            continuation.finish()
            throw error
        }
    }

    /// Writes a plan as the new current generation (on the planning thread). `storing` (when given)
    /// is the budget to store with it (`.some(nil)`: unlimited), in the same transaction.
    func write(_ plan: ServedSetPlanner.Plan, budget: Int64?, storing: Int64?? = nil, context: RequestContext?,
               at fraction: Double) async throws -> PlanResult {
        let planner = self.planner
        if plan.result.kind == "clustered" {
            await context?.progress(stage: "writing", fraction: fraction,
                                    message: "writing \(plan.result.clusterCount) served adapter\(plan.result.clusterCount == 1 ? "" : "s") as a new generation")
        }
        reclustering.withLockedValue { $0 = true }
        defer { reclustering.withLockedValue { $0 = false } }
        let result: PlanResult
        do {
            let settings = storing.map { [SettingKey.budgetBytes: String($0.map { Int($0) } ?? Int.max)] } ?? [:]
            result = try await planningThread.run { try planner.apply(plan, budget: budget, settings: settings) }
        } catch let error as StoreError {
            throw CatalogMapping.rpcError(error)
        }
        if let generation = result.generation {
            generationEvaluator.withLockedValue { $0 = (generation, result.evaluator) }
        }
        let limit: String = result.budgetBytes.map(ByteSize.format) ?? "unlimited"
        let quality = String(format: "%.3f", result.meanRetainedQuality)
        let note: String = result.evaluatorNote.map { " (\($0))" } ?? ""
        let line = "generation \(result.generation ?? 0) is current: \(result.clusterCount) served adapters "
            + "(\(result.kind)), \(ByteSize.format(result.totalBytes)) of \(limit), mean retained quality "
            + "\(quality) by \(result.evaluator)\(note)"
        logger.notice("\(line)")
        return result
    }

    /// Runs a store call on the planning thread, turning store errors into protocol errors.
    func onPlanningThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        do {
            return try await planningThread.run(body)
        } catch let error as StoreError {
            throw CatalogMapping.rpcError(error)
        }
    }

    // MARK: export

    /// The files of a served adapter of the current generation (by cluster id, or serving a task).
    /// Read-only: the same files are readable through the paths `route` returns.
    func export(_ params: ExportParams) async throws -> ExportResult {
        guard (params.cluster == nil) != (params.task == nil) else {
            throw RPCError(code: .invalidParams, message: "export needs exactly one of \"cluster\" and \"task\"")
        }
        if let task = params.task, let damage = try readSnapshot().unservable[task] {
            throw RPCError(code: .notFound, message: damage)
        }
        let served: StoredServedAdapter = try translating {
            if let task = params.task {
                guard let route = try self.store.route(task: task) else {
                    if try self.store.task(named: task) != nil {
                        throw RPCError(code: .notFound, message: "task '\(task)' is installed but not served by the current generation")
                    }
                    throw Self.notFound(task)
                }
                return route.servedAdapter
            }
            let cluster = params.cluster ?? 0
            guard let current = try self.store.currentGeneration() else {
                throw RPCError(code: .notFound, message: "nothing is served yet: no generation is current")
            }
            guard let found = current.servedAdapters.first(where: { $0.id == cluster }) else {
                let ids = current.servedAdapters.map { String($0.id) }.joined(separator: ", ")
                throw RPCError(code: .notFound,
                               message: "cluster \(cluster) is not part of the current generation \(current.id) (its clusters: \(ids))")
            }
            return found
        }
        let store = self.store
        let files: (config: Data, weights: Data)
        do {
            files = try await requestThread.run { (try store.read(served.configDigest), try store.read(served.weightsDigest)) }
        } catch let error as StoreError {
            let damaged = store.damagedDigests()
            if error.code == .digestMismatch || damaged.contains(served.configDigest) || damaged.contains(served.weightsDigest) {
                noteDamageFound()
                throw RPCError(code: .notFound,
                               message: "cluster \(served.id)'s files are damaged on disk, so they are not served: \(error.message) "
                                   + "(see `adapterctl status`; install the task again, or re-cluster, to write them anew)")
            }
            throw RPCError(code: .notFound,
                           message: "cluster \(served.id)'s files are gone (generation \(served.generationID) was replaced meanwhile; ask again): \(error.message)")
        }
        let weights = try await requestThread.run { files.weights.base64EncodedString() }
        return ExportResult(
            cluster: served.id, generation: served.generationID, kind: served.kind.rawValue, tasks: served.memberTasks,
            sha256: served.weightsDigest.hex, scale: served.scale, config: String(decoding: files.config, as: UTF8.self),
            safetensors: weights)
    }

    // MARK: status

    /// The current generation's served set, or nil before the first one.
    func servedSetInfo() throws -> ServedSetInfo? {
        servedSetInfo(of: try store.currentGeneration())
    }

    /// A generation's served set as `status` shows it, or nil for none.
    func servedSetInfo(of generation: Generation?) -> ServedSetInfo? {
        guard let generation else { return nil }
        let summary = try? generation.planSummary(as: PlanResult.self)
        var indexOf: [Int64: Int] = [:]
        let clusters = generation.servedAdapters.enumerated().map { index, served -> PlanCluster in
            indexOf[served.id] = index
            let planned = summary.flatMap { index < $0.clusters.count ? $0.clusters[index] : nil }
            return PlanCluster(index: index, id: served.id, kind: served.kind.rawValue, tasks: served.memberTasks,
                               rank: served.rank, bytes: Int64(served.bytes), sha256: served.weightsDigest.hex,
                               baseModel: planned?.baseModel)
        }
        let versions = Dictionary((summary?.tasks ?? []).map { ($0.task, $0.version) }, uniquingKeysWith: { a, _ in a })
        let tasks = generation.routes.filter(\.servesInstalledVersion).map { route in
            PlanTask(task: route.task, version: versions[route.task] ?? 0, cluster: indexOf[route.servedAdapterID] ?? -1,
                     retainedQuality: route.retainedQuality)
        }
        let worst = tasks.min { $0.retainedQuality < $1.retainedQuality }
        return ServedSetInfo(
            generation: generation.id,
            kind: generation.servedAdapters.contains { $0.kind == .merged } ? "clustered" : "own",
            clusters: clusters, tasks: tasks, meanRetainedQuality: generation.meanRetainedQuality,
            worstRetainedQuality: worst?.retainedQuality, worstTask: worst?.task, evaluator: generation.evaluator,
            evaluatorNote: summary?.evaluatorNote, lastReclusterAt: generation.committedAt.map(CatalogMapping.time),
            reclustering: reclustering.withLockedValue { $0 })
    }

    /// Name of the evaluator that planned a generation (cached for the current one).
    func evaluatorName(generation id: Int64) throws -> String? {
        if let cached = generationEvaluator.withLockedValue({ $0 }), cached.id == id { return cached.name }
        guard let name = try store.generation(id: id)?.evaluator else { return nil }
        generationEvaluator.withLockedValue { $0 = (id, name) }
        return name
    }
}
