import AdapterCore
import AdapterProtocol
import AdapterStore
import Foundation

/// Places an install's task into the current generation's served set (AdapterCore's
/// `InstallPlacement`): every other served adapter is kept as it is (its files, its tasks' figures),
/// so the install costs one merge rather than a plan of every task. The plan it makes has policy
/// `placed`; the replanner plans every task again in the background afterwards.
///
/// It declines (nil: the install plans every task) when the current generation is not a sound start:
/// none yet, a task installed but not routed at its installed version, a damaged served adapter,
/// figures by another evaluator than the one in force, the task re-installed inside a merged
/// cluster, or no placement that fits the budget.
struct ServedSetPlacement: Sendable {
    let store: AdapterStore
    let planner: ServedSetPlanner

    /// What `plan` decided, for the log.
    struct Outcome: Sendable {
        let plan: ServedSetPlanner.Plan
        /// Where the task went, e.g. "with a, b at rank 8".
        let home: String
        /// The options weighed, for the log.
        let considered: String
    }

    /// `installed`: the installed tasks as `planner.inputs()` gives them (the caller has read them).
    func plan(_ pending: ServedSetPlanner.Input, installed: [ServedSetPlanner.Input], budget: Budget,
              evaluator: any Evaluator) async throws -> Outcome? {
        guard case .bytes(let limit) = budget, let current = try store.currentGeneration() else { return nil }
        let summary = try? current.planSummary(as: PlanResult.self)
        let inputs = Dictionary(installed.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let routes = Dictionary(current.routes.filter(\.servesInstalledVersion).map { ($0.task, $0) },
                                uniquingKeysWith: { a, _ in a })
        let damaged = store.damagedDigests()
        let scoredBy = Dictionary((summary?.tasks ?? []).compactMap { t in t.evaluator.map { (t.task, $0) } },
                                  uniquingKeysWith: { a, _ in a })
        // Every other installed task served at its installed version, each figure by the evaluator in force.
        for input in installed where input.name != pending.name {
            guard let route = routes[input.name] else { return nil }
            let by = scoredBy[input.name] ?? current.evaluator
            guard by == "own-adapters" || by == evaluator.name,
                  current.servedAdapters.contains(where: { $0.id == route.servedAdapterID }) else { return nil }
        }
        var kept: [StoredServedAdapter] = []
        for served in current.servedAdapters {
            if damaged.contains(served.configDigest) || damaged.contains(served.weightsDigest) { return nil }
            let members = served.memberTasks.filter { $0 != pending.name }
            if members.count < served.memberTasks.count {
                // The task is re-installed: its old version's own file goes; a merge with others stays
                // only through a full plan (it still holds the old version's update).
                guard members.isEmpty else { return nil }
                continue
            }
            guard members.allSatisfy({ inputs[$0] != nil && routes[$0]?.servedAdapterID == served.id }) else { return nil }
            kept.append(served)
        }
        let clusters = kept.map { served in
            InstallPlacement.ServedCluster(
                members: served.memberTasks, bytes: served.bytes,
                quality: Dictionary(served.memberTasks.map { ($0, routes[$0]?.retainedQuality ?? 0) },
                                    uniquingKeysWith: { a, _ in a }),
                served: { [store, decoded = planner.decoded] in
                    try decoded.adapter(config: served.configDigest, weights: served.weightsDigest, in: store)
                },
                profiles: {   // read and decoded on the planning threads
                    let members = served.memberTasks
                    return try ParallelLoop.map(members.count, minimumPerThread: 1) { try Self.profile(inputs[members[$0]]!) }
                })
        }
        let placement = InstallPlacement(evaluator: evaluator, storageDType: planner.dtype)
        let task = try Self.profile(pending)
        let placed: InstallPlacement.Placement?
        do {
            placed = try await placement.place(task, beside: clusters, budget: Int(clamping: max(0, limit)),
                                               grams: planner.decoded.grams)
        } catch let error as ClusteringError where error.code == .evaluatorFailed {
            return nil   // the full plan falls back to another evaluator and says so
        }
        guard let placed else { return nil }
        let plan = try makePlan(placed, pending: pending, kept: kept, routes: routes, scoredBy: scoredBy,
                                evaluator: evaluator.name, budget: budget, ownTotal: installed, current: current)
        guard plan.result.totalBytes <= limit else { return nil }
        return Outcome(plan: plan, home: Self.describe(placed.home, kept: kept),
                       considered: placed.considered.joined(separator: "; "))
    }

    private func makePlan(_ placed: InstallPlacement.Placement, pending: ServedSetPlanner.Input, kept: [StoredServedAdapter],
                          routes: [String: GenerationRoute], scoredBy: [String: String], evaluator: String,
                          budget: Budget, ownTotal installed: [ServedSetPlanner.Input],
                          current: Generation) throws -> ServedSetPlanner.Plan {
        let started = Date()
        var builder = PlanBuilder(dtype: planner.dtype)
        let versions = Dictionary(installed.map { ($0.name, $0.version) }, uniquingKeysWith: { a, _ in a })
        let version = { (task: String) in task == pending.name ? pending.version : versions[task] ?? 0 }
        let baseModel = pending.baseModel   // a joined cluster shares the new task's profile
        for (c, served) in kept.enumerated() {
            if case .joined(let joined, let adapter, let rank, _) = placed.home, joined == c {
                let members = served.memberTasks + [pending.name]
                try builder.addMerged(adapter, members: members, rank: rank, baseModel: baseModel,
                                      tasks: members.map { PlanTask(task: $0, version: version($0), cluster: 0,
                                                                    retainedQuality: placed.quality[$0] ?? 0, evaluator: evaluator) })
                continue
            }
            try addUnchanged(served, to: &builder, of: current, routes: routes, scoredBy: scoredBy, installed: installed)
        }
        switch placed.home {
        case .ownFile:
            builder.addOwn(pending)
        case .alone(let adapter, let rank, _):
            try builder.addMerged(adapter, members: [pending.name], rank: rank, baseModel: baseModel,
                                  tasks: [PlanTask(task: pending.name, version: pending.version, cluster: 0,
                                                   retainedQuality: placed.quality[pending.name] ?? 0, evaluator: evaluator)])
        case .joined:
            break
        }
        builder.evaluator = evaluator
        builder.policy = PlacementPolicy.placed
        builder.evaluations = placed.evaluations
        let ownTotal = installed.filter { $0.name != pending.name }.reduce(pending.ownBytes) { $0 + $1.ownBytes }
        return builder.finish(dryRun: false, budget: budget, ownTotal: ownTotal, started: started)
    }

    /// One served adapter of `current` added to `builder` as it is: its files, its tasks' figures.
    private func addUnchanged(_ served: StoredServedAdapter, to builder: inout PlanBuilder, of current: Generation,
                              routes: [String: GenerationRoute], scoredBy: [String: String],
                              installed: [ServedSetPlanner.Input]) throws {
        let inputs = Dictionary(installed.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let source: ServedSetPlanner.Source = served.kind == .own ? .own(task: served.memberTasks[0]) : .stored(served)
        builder.add(source,
                    cluster: PlanCluster(index: 0, id: nil, kind: served.kind.rawValue, tasks: served.memberTasks,
                                         rank: served.rank, bytes: Int64(served.bytes), sha256: served.weightsDigest.hex,
                                         baseModel: served.memberTasks.first.flatMap { inputs[$0]?.baseModel }),
                    tasks: served.memberTasks.map {
                        PlanTask(task: $0, version: inputs[$0]?.version ?? 0, cluster: 0,
                                 retainedQuality: routes[$0]?.retainedQuality ?? 0,
                                 evaluator: scoredBy[$0] ?? (served.kind == .own ? "own-adapters" : current.evaluator))
                    })
    }

    /// The current generation as a plan to write again unchanged, with policy `kept`: the served set
    /// installs placed their tasks into scored higher than the plan of every task made after them.
    /// nil when the current generation does not serve every installed task at its installed version.
    func keepingCurrent(budget: Budget) throws -> ServedSetPlanner.Plan? {
        guard let current = try store.currentGeneration() else { return nil }
        let installed = try planner.inputs()
        let routes = Dictionary(current.routes.filter(\.servesInstalledVersion).map { ($0.task, $0) },
                                uniquingKeysWith: { a, _ in a })
        guard installed.allSatisfy({ routes[$0.name] != nil }),
              current.servedAdapters.allSatisfy({ $0.memberTasks.allSatisfy { routes[$0] != nil } }) else { return nil }
        let summary = try? current.planSummary(as: PlanResult.self)
        let scoredBy = Dictionary((summary?.tasks ?? []).compactMap { t in t.evaluator.map { (t.task, $0) } },
                                  uniquingKeysWith: { a, _ in a })
        var builder = PlanBuilder(dtype: planner.dtype)
        for served in current.servedAdapters {
            try addUnchanged(served, to: &builder, of: current, routes: routes, scoredBy: scoredBy, installed: installed)
        }
        builder.evaluator = current.evaluator
        builder.policy = PlacementPolicy.placedKept
        return builder.finish(dryRun: false, budget: budget, ownTotal: installed.reduce(0) { $0 + $1.ownBytes },
                              started: Date())
    }

    /// A task as the placement sees it: its stored (or pending) adapter, loaded.
    private static func profile(_ input: ServedSetPlanner.Input) throws -> TaskProfile {
        TaskProfile(name: input.name, version: input.version, adapter: try input.load(), examplesFile: input.examplesFile,
                    ownBytes: input.ownBytes)
    }

    private static func describe(_ home: InstallPlacement.Home, kept: [StoredServedAdapter]) -> String {
        switch home {
        case .ownFile: return "alone by its own file"
        case .alone(_, let rank, _): return "alone at rank \(rank)"
        case .joined(let c, _, let rank, _): return "with \(kept[c].memberTasks.joined(separator: ", ")) at rank \(rank)"
        }
    }
}
