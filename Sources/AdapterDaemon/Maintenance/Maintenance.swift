import AdapterProtocol
import AdapterStore
import Foundation
import Logging

/// The health of the state directory as the daemon handles it: `verify` (hash every stored object),
/// the monitor that notices a deleted catalog, a space reserve that can be put back, and damage
/// found by a read (the `storage` part of `status` is the ReadModel's).
struct Maintenance: Sendable {
    let store: AdapterStore
    let replanner: Replanner
    let reads: ReadModel
    let logger: Logger

    /// Hashes every object the catalog references (AdapterStore.verify), serialised with changes (a
    /// generation switch collects objects). Damaged objects are set aside, reported, and — unless the
    /// store is read-only — the served set is re-planned without them. Runs on a read-only store too.
    func verify(_ context: RequestContext) async throws -> VerifyResult {
        let started = Date()
        let store = self.store
        let (stream, continuation) = AsyncStream.makeStream(of: (Int, Int).self, bufferingPolicy: .bufferingNewest(8))
        let forwarder = Task {
            for await (done, total) in stream {
                await context.progress(stage: "verifying", fraction: Double(done) / Double(max(1, total)),
                                       message: "hashed \(done) of \(total) stored objects")
            }
        }
        defer { Task { await self.replanner.releaseFreedMemory() } }
        return try await replanner.mutations.withLock {
            defer { reads.refreshSnapshot() }
            let report: VerifyReport
            do {
                report = try await replanner.planningThread.run {
                    try store.verify { done, total in continuation.yield((done, total)) }
                }
            } catch {
                continuation.finish()
                throw error
            }
            continuation.finish()
            await forwarder.value
            reads.lastVerifiedAt.withLockedValue { $0 = Date() }
            if report.damaged.isEmpty {
                logger.notice("verify: \(report.checkedObjects) stored objects, all intact")
            } else {
                for object in report.damaged {
                    let aside = object.setAsideAs.map { "; set aside as \($0)" } ?? ""
                    logger.error("verify: stored object \(object.digest.hex) is damaged: \(object.problem)\(aside)")
                }
                reads.refreshSnapshot()
                if (try? store.prepareForChange()) != nil {
                    try await replanner.reconcileHoldingLock()
                }
            }
            let tasks = try store.tasks()
            let generation = try store.currentGeneration()
            return VerifyResult(
                checkedObjects: report.checkedObjects, checkedBytes: Int64(report.checkedBytes),
                damagedObjects: report.damaged.map { CatalogMapping.damaged($0, tasks: tasks, generation: generation) },
                seconds: Date().timeIntervalSince(started), verifiedAt: CatalogMapping.time(Date()),
                generation: generation?.id ?? 0)
        }
    }

    /// A read found a damaged object: the reads stop handing it out (a new snapshot) and the served
    /// set is re-planned without it, in the background and serialised with changes.
    func noteDamageFound() {
        Task {
            await replanner.mutations.withLock { reads.refreshSnapshot() }
            try? await replanner.reconcile()
        }
    }

    /// Watches the state directory while the daemon runs (every `interval`): logs when changes become
    /// refused or allowed again (a deleted catalog is noticed here even with no request, and its copy
    /// saved), puts the space reserve back (and finishes a postponed start-up clean-up) once there is
    /// room, and acts on damage a read found.
    func monitorStorage(every interval: Duration = .seconds(2)) async {
        var reported: String?
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            if Task.isCancelled { return }
            let reason = store.readOnlyReason()
            if reason != reported {
                if let reason {
                    logger.error("changes are refused: \(reason)")
                } else {
                    logger.notice("changes are accepted again")
                }
                reported = reason
            }
            if reason == nil && (!store.hasSpaceReserve || store.hasPostponedCleanUp) {
                // Under the change lock: an undo in progress may have just released the reserve. Puts it
                // back (and finishes a start-up clean-up a full disk postponed) once there is room.
                await replanner.mutations.withLock { try? store.prepareForChange() }
            }
            let seen = reads.snapshot.withLockedValue { $0?.damageVersion }
            if seen != nil && seen != store.damageVersion {
                noteDamageFound()
            }
        }
    }
}
