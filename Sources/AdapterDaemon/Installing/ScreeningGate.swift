import AdapterCore
import AdapterProtocol
import AdapterStore
import Logging
import NIOConcurrencyHelpers

/// Decides whether an install is refused: the detector screens the adapter, and anything but a
/// benign verdict is refused — recorded in the quarantine (digest, verdict, peer, time; nothing else
/// of the adapter is kept) and answered with the verdict's score, threshold and strongest features.
struct ScreeningGate: Sendable {
    let store: AdapterStore
    let screening: NIOLockedValueBox<any Screening>
    let reads: ReadModel
    let requestThread: WorkerThread
    let logger: Logger

    /// The verdict of an accepted adapter; throws the refusal otherwise.
    func screen(_ candidate: Installer.Candidate, peer: PeerCredentials, context: RequestContext) async throws -> Verdict {
        await context.progress(stage: "screening", fraction: 0.5, message: "screening with the detector")
        let screening = self.screening.withLockedValue { $0 }
        let (adapter, examples, task) = (candidate.adapter, candidate.examples, candidate.task)
        let verdict: Verdict
        do {
            verdict = try await requestThread.run { try screening.screen(adapter, examples: examples, task: task) }
        } catch {
            throw InstallError(.invalidAdapter, "the detector cannot judge this adapter: \(error)")
        }
        guard !verdict.isFlagged else { throw try refuse(candidate, verdict: verdict, peer: peer) }
        return verdict
    }

    /// Records the refusal in the quarantine and returns the error that answers it.
    private func refuse(_ candidate: Installer.Candidate, verdict: Verdict, peer: PeerCredentials) throws -> InstallError {
        let digest = candidate.digest
        let info = CatalogMapping.verdict(verdict)
        let record = try store.addQuarantine(weightsDigest: digest, task: candidate.task,
                                             verdict: CatalogMapping.record(info), peerUID: peer.uid)
        reads.refreshQuarantineCount()
        logger.warning(
            "refused \(candidate.task): \(CatalogMapping.refusalReason(verdict))",
            metadata: ["sha256": "\(digest.hex)", "peer": "\(peer)", "quarantine": "\(record.id)"])
        return InstallError(
            .refused(RefusalDetails(task: candidate.task, sha256: digest.hex, verdict: info, quarantineId: record.id)),
            "adapter for '\(candidate.task)' refused: \(CatalogMapping.refusalReason(verdict))")
    }
}
