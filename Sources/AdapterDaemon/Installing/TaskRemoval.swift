import AdapterProtocol
import AdapterStore
import Foundation

extension Installer {
    /// Removes a task and re-plans the served set without it, all or nothing: when the new served set
    /// cannot be written, the removal is undone and the error says so (the task stays installed and
    /// served as before).
    func remove(_ params: TaskParams, _ context: RequestContext) async throws -> RemoveResult {
        defer { reads.textIndex.refresh(task: params.task) }  // route-by-text re-reads the task from the catalog
        return try await replanner.mutating {
            guard let previous = try store.task(named: params.task) else {
                throw ReadModel.notFound(params.task)
            }
            let before = try store.currentGeneration()?.id ?? 0
            let removed = try store.removeTask(named: params.task)
            reads.refreshSnapshot()  // the task stops being routed now, not once the re-plan is written
            let generation: Int64
            do {
                generation = try await replanner.replan(budget: try replanner.budget.limit(),
                                                        dryRun: false, context: context).generation ?? before
            } catch {
                throw await undoRemoval(previous, generationBefore: before, after: error)
            }
            logger.notice("removed task \(params.task) version \(removed.version)", metadata: ["peer": "\(context.peer)"])
            return RemoveResult(task: removed.name, version: removed.version, generation: generation,
                                budget: try replanner.budget.status())
        }
    }

    /// Puts back a task whose removal could not be followed by a new served set, so that the error
    /// means "nothing changed". Returns the error to send.
    func undoRemoval(_ previous: InstalledTask, generationBefore: Int64, after error: any Error) async -> any Error {
        let store = self.store
        let attempt = "cannot re-plan the served set without '\(previous.name)'"
        // A failure after the new generation became current leaves a finished removal: keep it.
        if let current = try? store.currentGeneration()?.id, current != generationBefore { return error }
        do {
            try await undo { try store.restoreTask(previous) }
        } catch let undo {
            logger.error("\(attempt): \(error); undoing the removal failed too: \(undo)")
            return ChangeError(attempt: attempt, cause: error, outcome: "undoing the removal failed (\(undo)), so '\(previous.name)' is "
                                   + "removed and no longer routed, and the served set is re-planned at the next change or start")
        }
        logger.error("\(attempt): \(error); removal undone")
        return ChangeError(attempt: attempt, cause: error, outcome: "nothing changed: '\(previous.name)' is still version "
                               + "\(previous.version), served as before")
    }
}
