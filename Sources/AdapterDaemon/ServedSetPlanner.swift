import AdapterProtocol
import AdapterStore
import Foundation
import Logging

/// Builds the served set from the installed tasks while clustering is not available: every task is
/// served by its own adapter, and a change that would exceed the budget is refused.
struct ServedSetPlanner: Sendable {
    let store: AdapterStore
    let logger: Logger

    /// Throws `over budget` if serving every task's own adapter, with `task` replaced by (or added
    /// as) an adapter of `addingBytes`, would exceed the budget.
    func checkFits(replacing task: String, addingBytes: Int64, budgetBytes: Int64?) throws {
        guard let budgetBytes else { return }
        let others = try store.tasks().filter { $0.name != task }.reduce(Int64(0)) { $0 + Int64($1.adapter.bytes) }
        let required = others + addingBytes
        guard required <= budgetBytes else {
            throw RPCError(
                code: .overBudget,
                message: "serving '\(task)' needs \(ByteSize.format(required)) but the budget is \(ByteSize.format(budgetBytes)); remove a task or raise the budget (merging into clusters is not available yet)",
                details: OverBudgetDetails(limitBytes: budgetBytes, servedBytes: Int64(try store.servedBytes()), requiredBytes: required))
        }
    }

    /// Writes a new generation serving every installed task by its own adapter and makes it current.
    /// Returns its id.
    @discardableResult
    func rebuild(budgetBytes: Int64?) throws -> Int64 {
        let tasks = try store.tasks()
        let budget = budgetBytes.map { Int(clamping: $0) } ?? Int.max
        let generation = try store.beginGeneration(
            budgetBytes: budget, evaluator: "own-adapters", planSummary: ["tasks": tasks.map(\.name)])
        do {
            var routes: [RouteDraft] = []
            for task in tasks {
                let served = try store.addServedAdapter(
                    ServedAdapterDraft(
                        kind: .own, memberTasks: [task.name],
                        configJSON: try store.read(task.adapter.configDigest),
                        weights: try store.read(task.adapter.weightsDigest),
                        rank: task.adapter.rank, scale: CatalogMapping.scale(configJSON: try store.read(task.adapter.configDigest))),
                    to: generation.id)
                routes.append(RouteDraft(task: task.name, servedAdapterID: served.id, taskAdapterID: task.adapter.id,
                                         retainedQuality: 1))
            }
            return try store.commitGeneration(generation.id, routes: routes).id
        } catch {
            try? store.abandonGeneration(generation.id)
            throw error
        }
    }

    /// Rebuilds the served set when the current generation does not serve exactly the installed
    /// versions of the installed tasks.
    func reconcile(budgetBytes: Int64?) throws {
        let tasks = try store.tasks()
        let current = try store.currentGeneration()
        var stale = current == nil && !tasks.isEmpty
        for task in tasks where try store.route(task: task.name) == nil {
            stale = true
        }
        if let current, current.routes.contains(where: { !$0.servesInstalledVersion }) {
            stale = true
        }
        guard stale else { return }
        logger.notice("the served set does not match the installed tasks; rebuilding it")
        try rebuild(budgetBytes: nil)
    }
}
