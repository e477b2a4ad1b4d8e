import AdapterCore
import AdapterProtocol
import AdapterStore
import Foundation

/// The methods that change the served set without changing the tasks: `recluster` and `budget.set`.
extension Replanner {
    func recluster(_ params: ReclusterParams, _ context: RequestContext) async throws -> PlanResult {
        if case .bytes(let bytes)? = params.budget, bytes < 0 {
            throw PlanningError(.invalidBudget, "a budget cannot be negative")
        }
        if params.dryRun {
            // A dry run changes nothing, so it runs on a read-only store too.
            defer { Task { await self.releaseFreedMemory() } }
            return try await mutations.withLock {
                let budget = try params.budget ?? self.budget.limit()
                let plan = try await makePlan(budget: budget, dryRun: true, pending: nil, context: context, range: 0...0.9)
                await context.progress(stage: "done", fraction: 1, message: "planned (dry run)")
                return plan.result
            }
        }
        return try await mutating {
            let budget = try params.budget ?? self.budget.limit()
            let plan = try await makePlan(budget: budget, dryRun: false, pending: nil, context: context, range: 0...0.9)
            // A given budget is stored with the new generation, in one transaction (both or neither).
            let result = try await write(plan, budget: budget, storing: params.budget, context: context, at: 0.9)
            if let given = params.budget {
                logger.notice("budget set to \(given.formatted()) by recluster", metadata: ["peer": "\(context.peer)"])
            }
            await context.progress(stage: "done", fraction: 1, message: "generation \(result.generation ?? 0) is current")
            return result
        }
    }

    /// Sets the budget and re-plans the served set for it, all or nothing: the budget is stored in the
    /// same transaction that makes the new generation current, so a plan that cannot be made or
    /// written leaves the budget in force and the served set as they were.
    func budgetSet(_ params: BudgetSetParams, _ context: RequestContext) async throws -> BudgetStatus {
        if case .bytes(let bytes) = params.budget, bytes < 0 {
            throw PlanningError(.invalidBudget, "a budget cannot be negative")
        }
        return try await mutating {
            let wanted = params.budget
            let wantedText = wanted.formatted()
            do {
                // Plan first: a budget that cannot hold the tasks changes nothing.
                let plan = try await makePlan(budget: wanted, dryRun: false, pending: nil, context: context)
                _ = try await write(plan, budget: wanted, storing: wanted, context: context, at: 0.9)
            } catch let error as any RequestError {
                let inForce = (try? budget.limit()).map { $0.formatted() } ?? "unchanged"
                throw ChangeError(attempt: "cannot set the budget to \(wantedText)", cause: error,
                                  outcome: "nothing changed: the budget is still \(inForce)")
            }
            logger.notice("budget set to \(wantedText)", metadata: ["peer": "\(context.peer)"])
            return try budget.status()
        }
    }
}
