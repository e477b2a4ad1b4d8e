import AdapterProtocol
import AdapterStore

extension ReadModel {
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
        let scoredBy = Dictionary((summary?.tasks ?? []).compactMap { t in t.evaluator.map { (t.task, $0) } },
                                  uniquingKeysWith: { a, _ in a })
        let ownAdapters = Set(generation.servedAdapters.filter { $0.kind != .merged }.map(\.id))
        let tasks = generation.routes.filter(\.servesInstalledVersion).map { route in
            // Which evaluator produced the figure: the plan's record, else (plans before the field)
            // own-adapters for a task served by its own file and the generation's evaluator otherwise.
            PlanTask(task: route.task, version: versions[route.task] ?? 0, cluster: indexOf[route.servedAdapterID] ?? -1,
                     retainedQuality: route.retainedQuality,
                     evaluator: scoredBy[route.task]
                        ?? (ownAdapters.contains(route.servedAdapterID) ? "own-adapters" : generation.evaluator))
        }
        let worst = tasks.min { $0.retainedQuality < $1.retainedQuality }
        var info = ServedSetInfo(
            generation: generation.id,
            kind: generation.servedAdapters.contains { $0.kind == .merged } ? "clustered" : "own",
            clusters: clusters, tasks: tasks, meanRetainedQuality: generation.meanRetainedQuality,
            worstRetainedQuality: worst?.retainedQuality, worstTask: worst?.task, evaluator: generation.evaluator,
            evaluatorNote: summary?.evaluatorNote, lastReclusterAt: generation.committedAt.map(CatalogMapping.time),
            reclustering: reclustering.withLockedValue { $0 })
        info.policy = summary?.policy
        return info
    }
}
