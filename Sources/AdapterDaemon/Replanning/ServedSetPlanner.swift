import AdapterCore
import AdapterProtocol
import AdapterStore
import Foundation
import Logging

/// Plans the served set for a byte budget and materialises a plan as a new generation.
///
/// If every task's own adapter fits the budget, each task is served by its own adapter, by reference
/// (nothing is loaded or copied). Otherwise the tasks' adapters are loaded and the policy is
/// AdapterCore's `JointBudgetPlanner`: one allocation of the whole budget across every group of tasks
/// that may share an adapter (one base model; module sets padded to their union where sound), clusters
/// and ranks competing for the same bytes by the quality they buy, never below truncate-only by the
/// evaluator's score. This type only loads the inputs, calls it (again with the fallback evaluator if
/// the configured one fails), serialises merged adapters as PEFT files (F16 by default) and writes the
/// generation. `plan` writes nothing; `apply` writes one generation and makes it current in one
/// transaction.
struct ServedSetPlanner: Sendable {
    let store: AdapterStore
    let logger: Logger
    /// Stored adapters as decoded, shared by every copy of this planner and by placements.
    let decoded = DecodedAdapters()
    /// The dtype merged adapters are written in (configuration key `merged-dtype`).
    var dtype: DType = .f16

    /// A task to plan for: installed, or about to be installed by the install in progress.
    struct Input: Sendable {
        let name: String
        let version: Int
        let ownBytes: Int
        let rank: Int
        let profileHash: String
        let baseModel: String
        /// sha256 of the own adapter's weights file.
        let ownSHA256: String
        let examplesFile: String?
        /// Loads the own adapter; only called when the task's profile has to be clustered.
        let load: @Sendable () throws -> LoRAAdapter

        /// The task's stored examples (normalised at install, so read without the install limits).
        func examples() throws -> [TaskExample] {
            guard let examplesFile else {
                throw ClusteringError(.evaluatorFailed, "the examples of task '\(name)' are not available")
            }
            return try ExamplesFile.load(contentsOf: URL(fileURLWithPath: examplesFile),
                                         limits: TaskEmbeddingIndex.storedExamplesLimits, maximumBytes: .max)
        }
    }

    /// How one planned cluster is served.
    enum Source: Sendable {
        /// The task's own installed adapter, by reference.
        case own(task: String)
        /// A merged adapter's files, serialised, and the weights' digest.
        case merged(config: Data, weights: Data, weightsDigest: ContentDigest, scale: Double)
        /// A served adapter of the current generation kept as it is, by reference (its files are not
        /// read again).
        case stored(StoredServedAdapter)
    }

    /// A plan: what each cluster is made of, and its summary for the protocol.
    struct Plan: Sendable {
        let sources: [Source]
        let result: PlanResult
    }

    /// The evaluators a plan uses: the configured one, and the one to fall back to if it fails.
    struct Evaluators: Sendable {
        let primary: any Evaluator
        let fallback: (any Evaluator)?
    }

    /// Reports planning progress: fraction 0…1 and a line for the user.
    typealias Progress = @Sendable (_ fraction: Double, _ message: String) -> Void

    /// A task whose stored adapter turned out damaged (or missing) while the plan loaded it: the
    /// caller plans again without it.
    struct DamagedInput: Error {
        let task: String
        let message: String
    }

    // MARK: Inputs

    /// The installed tasks as planner inputs, sorted by name; tasks whose stored adapter (config or
    /// weights) is known to be damaged are left out: never merged from, never served.
    func inputs() throws -> [Input] {
        let damaged = store.damagedDigests()
        return try store.tasks().filter { !Self.isDamaged($0, damaged) }.sorted { $0.name < $1.name }.map(input)
    }

    /// Whether a task's stored adapter (config or weights) is among `damaged`.
    static func isDamaged(_ task: InstalledTask, _ damaged: Set<ContentDigest>) -> Bool {
        damaged.contains(task.adapter.configDigest) || damaged.contains(task.adapter.weightsDigest)
    }

    func input(_ task: InstalledTask) -> Input {
        let (store, decoded) = (self.store, self.decoded)
        let adapter = task.adapter
        return Input(
            name: task.name, version: task.version, ownBytes: adapter.bytes, rank: adapter.rank,
            profileHash: adapter.profileHash, baseModel: adapter.baseModel, ownSHA256: adapter.weightsDigest.hex,
            examplesFile: store.url(for: task.examplesDigest).path,
            load: { try decoded.adapter(config: adapter.configDigest, weights: adapter.weightsDigest, in: store) })
    }

    // MARK: Planning

    /// Plans the served set of `inputs` under `budget`. Writes nothing. Heavy:
    /// call it on the worker thread.
    /// - Throws: `PlanningError` `budgetTooSmall` when the budget cannot hold one merged adapter per profile.
    func plan(_ inputs: [Input], budget: Budget, evaluators: Evaluators, dryRun: Bool,
              progress: Progress?) async throws -> Plan {
        let dtype = self.dtype
        let started = Date()
        let inputs = inputs.sorted { $0.name < $1.name }
        guard let ownTotal = inputs.lazy.map(\.ownBytes).checkedSum() else {
            throw PlanningError(.failed, "the tasks' sizes overflow")
        }
        var builder = PlanBuilder(dtype: dtype)
        guard case .bytes(let bytes) = budget, !budget.fits(Int64(ownTotal)) else {
            for input in inputs { builder.addOwn(input) }
            return builder.finish(dryRun: dryRun, budget: budget, ownTotal: ownTotal, started: started)
        }
        let limit = Int(clamping: max(0, bytes))

        progress?(0, "loading \(inputs.count) adapters")
        // Read and decoded on the planning threads; a failure is the first in name order, as in a plain loop.
        let profiles = try ParallelLoop.map(inputs.count, minimumPerThread: 1) { index -> TaskProfile in
            let input = inputs[index]
            let adapter: LoRAAdapter
            do {
                adapter = try input.load()
            } catch let error as StoreError where [.digestMismatch, .objectMissing].contains(error.code) {
                throw DamagedInput(task: input.name, message: "its stored adapter is damaged: \(error.message)")
            } catch {
                throw PlanningError(.failed, "cannot load task '\(input.name)''s stored adapter: \(error)")
            }
            return TaskProfile(name: input.name, version: input.version, adapter: adapter,
                               examplesFile: input.examplesFile, ownBytes: input.ownBytes)
        }
        let planned: JointPlan
        var note: String?
        do {
            planned = try await jointPlan(profiles, budget: limit, evaluator: evaluators.primary, progress: progress)
        } catch let error as ClusteringError where error.code == .evaluatorFailed && evaluators.fallback != nil {
            let fallback = evaluators.fallback!
            note = "\(evaluators.primary.name) failed, scores are \(fallback.name)'s: \(error.message)"
            logger.warning("evaluator \(evaluators.primary.name) failed; planning with \(fallback.name) instead: \(error.message)")
            planned = try await jointPlan(profiles, budget: limit, evaluator: fallback, progress: progress)
        }
        for group in planned.groups {
            try builder.add(group.plan, inputs: group.indices.map { inputs[$0] }, evaluator: planned.evaluatorName,
                            note: nil)
        }
        if let note { builder.notes.append(note) }
        builder.policy = planned.policy.rawValue
        builder.truncateOnlyMeanQuality = planned.truncateOnlyMeanQuality
        progress?(1, "planned \(builder.clusterCount) served adapter\(builder.clusterCount == 1 ? "" : "s")")
        return builder.finish(dryRun: dryRun, budget: budget, ownTotal: ownTotal, started: started)
    }

    /// Plans every task under the one budget with `JointBudgetPlanner` (AdapterCore): clusters and
    /// ranks of every group compete for the same bytes by the quality they buy per byte, tasks of one
    /// base model with different module sets may share a merged adapter, and the plan is never below
    /// truncate-only by the evaluator's score.
    private func jointPlan(_ profiles: [TaskProfile], budget: Int, evaluator: any Evaluator,
                           progress: Progress?) async throws -> JointPlan {
        let planner = JointBudgetPlanner(evaluator: evaluator, storageDType: dtype)
        do {
            return try await planner.plan(tasks: profiles, budget: budget) { fraction, message in progress?(fraction, message) }
        } catch let error as ClusteringError where error.code == .budgetTooSmall {
            throw Self.budgetTooSmall(error.message, base: nil)
        } catch let error as ClusteringError where error.code != .evaluatorFailed {
            throw PlanningError(.failed, "planning failed: \(error.message)")
        }
    }

    /// `budget` with a negative byte count read as 0 (the catalog refuses negative budgets).
    static func clampedAtZero(_ budget: Budget) -> Budget {
        guard case .bytes(let bytes) = budget else { return budget }
        return .bytes(max(0, bytes))
    }

    static func budgetTooSmall(_ message: String, base: String?) -> PlanningError {
        PlanningError(.budgetTooSmall,
                      (base.map { "tasks of base model '\($0)': " } ?? "") + message
                        + "; nothing was changed (raise the budget or remove tasks)")
    }

    // MARK: Writing

    /// Writes `plan` as a new generation and makes it current, storing `settings` in the same
    /// transaction. Heavy (hashing, fsync): call it on the worker thread. The plan must be for the
    /// installed versions (checked).
    func apply(_ plan: Plan, budget: Budget, settings: [String: String] = [:]) throws -> PlanResult {
        let tasks = Dictionary(try store.tasks().map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for planned in plan.result.tasks {
            guard let task = tasks[planned.task], task.version == planned.version else {
                throw PlanningError(.failed,
                                    "the plan is outdated: task '\(planned.task)' changed while it was made")
            }
        }
        let generation = try store.beginGeneration(budget: Self.clampedAtZero(budget), evaluator: plan.result.evaluator,
                                                   planSummary: plan.result)
        do {
            var result = plan.result
            var servedIDs: [Int64] = []
            for (index, source) in plan.sources.enumerated() {
                let cluster = plan.result.clusters[index]
                let served: StoredServedAdapter
                switch source {
                case .own(let name):
                    guard let task = tasks[name] else {
                        throw PlanningError(.failed, "task '\(name)' vanished while planning")
                    }
                    served = try store.addServedAdapter(
                        servingOwnAdapterOf: task,
                        scale: CatalogMapping.scale(configJSON: try store.read(task.adapter.configDigest)),
                        to: generation.id)
                case .merged(let config, let weights, let digest, let scale):
                    served = try store.addServedAdapter(
                        ServedAdapterDraft(kind: .merged, memberTasks: cluster.tasks, configJSON: config,
                                           weights: weights, rank: max(1, cluster.rank), scale: scale,
                                           weightsDigest: digest),
                        to: generation.id)
                case .stored(let kept):
                    served = try store.addServedAdapter(reusing: kept, to: generation.id)
                }
                servedIDs.append(served.id)
                result.clusters[index].id = served.id
                result.clusters[index].sha256 = served.weightsDigest.hex
            }
            let routes = try plan.result.tasks.map { planned -> RouteDraft in
                guard let task = tasks[planned.task] else {
                    throw PlanningError(.failed, "task '\(planned.task)' vanished while planning")
                }
                return RouteDraft(task: planned.task, servedAdapterID: servedIDs[planned.cluster],
                                  taskAdapterID: task.adapter.id, retainedQuality: planned.retainedQuality)
            }
            let committed = try store.commitGeneration(generation.id, routes: routes, settings: settings)
            result.generation = committed.id
            result.dryRun = false
            return result
        } catch {
            try? store.abandonGeneration(generation.id)
            throw error
        }
    }

    /// Whether the current generation does not serve exactly the installed versions of the installed
    /// tasks within `budget` (after a crash between an install's commit and its generation, a removal,
    /// or a budget stored just before a crash), or serves a damaged object, or routes a task whose
    /// stored adapter is damaged (a plan leaves such tasks out: they need no route, and get none).
    func isStale(budget: Budget) throws -> Bool {
        let damaged = store.damagedDigests()
        let installed = try store.tasks()
        let tasks = installed.filter { !Self.isDamaged($0, damaged) }
        guard let current = try store.currentGeneration() else { return !tasks.isEmpty }
        let damagedTasks = Set(installed.filter { Self.isDamaged($0, damaged) }.map(\.name))
        if current.routes.contains(where: { $0.servesInstalledVersion && damagedTasks.contains($0.task) }) { return true }
        if current.routes.contains(where: { !$0.servesInstalledVersion }) { return true }
        if current.servedAdapters.contains(where: { damaged.contains($0.configDigest) || damaged.contains($0.weightsDigest) }) {
            return true
        }
        let routed = Set(current.routes.map(\.task))
        if tasks.contains(where: { !routed.contains($0.name) }) { return true }
        if !budget.fits(Int64(current.bytesUsed)) { return true }
        return false
    }
}

/// Accumulates the clusters and task outcomes of a plan.
struct PlanBuilder {
    let dtype: DType
    var sources: [ServedSetPlanner.Source] = []
    var clusters: [PlanCluster] = []
    var tasks: [PlanTask] = []
    var evaluator: String?
    var notes: [String] = []
    var merged = false
    var policy: String?
    var truncateOnlyMeanQuality: Double?
    var rounds = 0
    var evaluations = 0

    var clusterCount: Int { clusters.count }

    mutating func addOwn(_ input: ServedSetPlanner.Input) {
        let index = clusters.count
        sources.append(.own(task: input.name))
        clusters.append(PlanCluster(index: index, id: nil, kind: "own", tasks: [input.name], rank: input.rank,
                                    bytes: Int64(input.ownBytes), sha256: input.ownSHA256, baseModel: input.baseModel))
        tasks.append(PlanTask(task: input.name, version: input.version, cluster: index, retainedQuality: 1,
                              evaluator: "own-adapters"))
    }

    mutating func add(_ plan: ClusterPlan, inputs: [ServedSetPlanner.Input], evaluator name: String, note: String?) throws {
        let byName = Dictionary(inputs.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var indexOf: [Int: Int] = [:]
        for cluster in plan.clusters where !cluster.members.isEmpty {
            let index = clusters.count
            indexOf[cluster.id] = index
            if cluster.usesOwnAdapter, let only = cluster.members.first, let input = byName[only] {
                addOwnCluster(input, index: index)
                continue
            }
            try addMerged(cluster.adapter, members: cluster.members, rank: cluster.rank, baseModel: inputs.first?.baseModel,
                          tasks: [])
        }
        for outcome in plan.tasks {
            guard let index = indexOf[outcome.cluster], let input = byName[outcome.name] else { continue }
            tasks.append(PlanTask(task: outcome.name, version: input.version, cluster: index,
                                  retainedQuality: outcome.quality,
                                  evaluator: plan.clusters.first { $0.id == outcome.cluster }?.usesOwnAdapter == true
                                      ? "own-adapters" : name))
        }
        evaluator = name
        if let note { notes.append(note) }
        rounds += plan.rounds
        evaluations += plan.evaluations
    }

    /// Adds a merged adapter serving `members` at `rank`, serialised in the plan's dtype, and its tasks'
    /// outcomes.
    mutating func addMerged(_ adapter: LoRAAdapter, members: [String], rank: Int, baseModel: String?,
                            tasks outcomes: [PlanTask]) throws {
        let files = try PEFTAdapterWriter.serialize(adapter, dtype: dtype)
        let digest = ContentDigest.of(files.weights)   // once: the plan shows it and the store names the object by it
        add(.merged(config: files.config, weights: files.weights, weightsDigest: digest,
                    scale: CatalogMapping.scale(configJSON: files.config)),
            cluster: PlanCluster(index: 0, id: nil, kind: "merged", tasks: members, rank: rank,
                                 bytes: Int64(files.config.count + files.weights.count),
                                 sha256: digest.hex, baseModel: baseModel),
            tasks: outcomes)
    }

    /// Adds one cluster as it is served (`cluster.index` is set to its place) and its tasks' outcomes.
    mutating func add(_ source: ServedSetPlanner.Source, cluster: PlanCluster, tasks outcomes: [PlanTask]) {
        let index = clusters.count
        var cluster = cluster
        cluster.index = index
        sources.append(source)
        clusters.append(cluster)
        tasks += outcomes.map { var task = $0; task.cluster = index; return task }
        if cluster.kind == "merged" { merged = true }
    }

    private mutating func addOwnCluster(_ input: ServedSetPlanner.Input, index: Int) {
        sources.append(.own(task: input.name))
        clusters.append(PlanCluster(index: index, id: nil, kind: "own", tasks: [input.name], rank: input.rank,
                                    bytes: Int64(input.ownBytes), sha256: input.ownSHA256, baseModel: input.baseModel))
    }

    func finish(dryRun: Bool, budget: Budget, ownTotal: Int, started: Date) -> ServedSetPlanner.Plan {
        let sortedTasks = tasks.sorted { $0.task < $1.task }
        let worst = sortedTasks.min { $0.retainedQuality < $1.retainedQuality }
        let mean = sortedTasks.isEmpty ? 1 : sortedTasks.reduce(0) { $0 + $1.retainedQuality } / Double(sortedTasks.count)
        let result = PlanResult(
            dryRun: dryRun, generation: nil, kind: merged ? "clustered" : "own", clusterCount: clusters.count,
            clusters: clusters, tasks: sortedTasks, totalBytes: clusters.reduce(0) { $0 + $1.bytes },
            budget: budget, ownTotalBytes: Int64(ownTotal), dtype: dtype.rawValue,
            evaluator: evaluator ?? "own-adapters", evaluatorNote: notes.isEmpty ? nil : notes.joined(separator: "; "),
            merger: merged ? "svd" : nil, meanRetainedQuality: mean, worstRetainedQuality: worst?.retainedQuality ?? 1,
            worstTask: worst?.task, rounds: rounds, evaluations: evaluations,
            seconds: Date().timeIntervalSince(started), plannedAt: CatalogMapping.time(Date()))
        var withPolicy = result
        withPolicy.policy = policy ?? "own-adapters"
        withPolicy.truncateOnlyMeanRetainedQuality = truncateOnlyMeanQuality
        return ServedSetPlanner.Plan(sources: sources, result: withPolicy)
    }
}
