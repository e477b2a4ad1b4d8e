import AdapterCore
import AdapterProtocol
import AdapterStore
import Foundation
import Logging
import NIOConcurrencyHelpers

/// Installs and removes tasks. An install goes: limits → decode → validate → signature → screening
/// (ScreeningGate.swift: refused adapters end there) → stored durably with its examples → re-planned
/// served set written → acknowledged. Over the budget the re-plan is a placement of the new task, with
/// every task planned again in the background, when `install-plan` says so (`Replanner.planInstall`). A removal is re-planned the same way. Both are all or nothing.
struct Installer: Sendable {
    let store: AdapterStore
    let settings: NIOLockedValueBox<DaemonSettings>
    let gate: ScreeningGate
    let replanner: Replanner
    let reads: ReadModel
    /// Runs the per-request heavy work (parse, signature, screening) off the cooperative pool.
    let requestThread: WorkerThread
    let logger: Logger

    /// An install request decoded and validated, before screening.
    struct Candidate: Sendable {
        let task: String
        let configJSON: Data
        let weights: Data
        let examplesData: Data
        let examples: [TaskExample]
        let adapter: LoRAAdapter
        /// The weights' SHA-256, computed once (screening, the log, the result and the plan's input read it).
        let digest: ContentDigest
    }

    func install(_ params: InstallParams, _ context: RequestContext) async throws -> InstallResult {
        let settings = self.settings.withLockedValue { $0 }
        try Self.checkName(params.task)
        // A store that cannot change anything refuses at once, before the heavy work.
        if let reason = store.readOnlyReason() {
            throw InstallError(.readOnly, "read-only: \(reason)")
        }
        // Route-by-text re-reads the task from the catalog whatever happens below (accepted, refused, failed).
        defer { reads.textIndex.refresh(task: params.task) }
        let candidate = try await validate(params, settings: settings, context: context)

        await context.progress(stage: "signature", fraction: 0.3, message: "computing the spectral signature")
        // A signature that cannot be computed (an update that overflows) is reported only if the detector
        // accepts the adapter: the detector refuses such an update as out of distribution, with its reason.
        let adapter = candidate.adapter
        let signatureResult = try await requestThread.run { Result { try SignatureExtractor.signature(of: adapter) } }
        let verdict = CatalogMapping.verdict(try await gate.screen(candidate, peer: context.peer, context: context))
        let signature: AdapterSignature
        do {
            signature = try signatureResult.get()
        } catch {
            throw InstallError(.invalidAdapter, "cannot compute the adapter's signature: \(error)")
        }

        await context.progress(stage: "storing", fraction: 0.7, message: "storing durably")
        let submission = AdapterSubmission(
            configJSON: candidate.configJSON, weights: candidate.weights, rank: adapter.config.r, dtype: adapter.storageDType,
            baseModel: adapter.config.baseModelNameOrPath ?? "unknown",
            profileHash: CatalogMapping.profileHash(adapter), signature: signature.values,
            verdict: CatalogMapping.record(verdict), weightsDigest: candidate.digest)
        let stored = try await store(candidate, submission, context: context)
        let installed = stored.installed
        logger.notice("installed \(params.task) version \(installed.version)",
                      metadata: ["sha256": "\(candidate.digest.hex)", "peer": "\(context.peer)", "generation": "\(stored.generation)"])
        await context.progress(stage: "done", fraction: 1, message: "installed")
        var result = InstallResult(
            task: installed.name, version: installed.version, replacedVersion: stored.replaced, sha256: candidate.digest.hex,
            bytes: Int64(candidate.weights.count), examples: candidate.examples.count, verdict: verdict,
            generation: stored.generation, budget: try replanner.budget.status())
        result.retainedQuality = stored.served?.retainedQuality
        result.evaluator = stored.served?.evaluator
        result.placement = stored.placement
        return result
    }

    /// What `store` did: the task as installed, the generation serving it and how it is served there.
    private struct Stored {
        let installed: InstalledTask
        let generation: Int64
        let replaced: Int?
        /// The task's entry in the plan of that generation.
        let served: PlanTask?
        /// Where a placing install put the task (nil: every task was planned).
        let placement: String?
    }

    static func checkName(_ task: String) throws {
        guard TaskName.isValid(task) else {
            throw InstallError(.invalidParams, "task name '\(task.prefix(80))' is invalid: use 1–64 characters of A–Z a–z 0–9 . _ -, starting with a letter or digit")
        }
    }

    /// The request's sizes checked against the limits, its files decoded and parsed.
    private func validate(_ params: InstallParams, settings: DaemonSettings, context: RequestContext) async throws -> Candidate {
        let base64Limit = (settings.maxAdapterBytes + 2) / 3 * 4
        guard Int64(params.safetensors.utf8.count) <= base64Limit else {
            let approximate = Int64(params.safetensors.utf8.count) / 4 * 3
            throw InstallError(.tooLarge(TooLargeDetails(limitBytes: settings.maxAdapterBytes, actualBytes: approximate)),
                               "the adapter is about \(ByteSize.format(approximate)); the limit is \(ByteSize.format(settings.maxAdapterBytes))")
        }
        guard Int64(params.examples.utf8.count) <= settings.maxExamplesBytes else {
            throw InstallError(.tooLarge(TooLargeDetails(limitBytes: settings.maxExamplesBytes, actualBytes: Int64(params.examples.utf8.count))),
                               "the examples are \(ByteSize.format(Int64(params.examples.utf8.count))); the limit is \(ByteSize.format(settings.maxExamplesBytes))")
        }
        guard let weights = Data(base64Encoded: params.safetensors) else {
            throw InstallError(.invalidParams, "\"safetensors\" is not valid base64 (RFC 4648, with padding)")
        }
        let configJSON = Data(params.config.utf8)
        if let labels = params.labels {
            do {
                try ExamplesFile.validateLabelNames(labels)
            } catch {
                throw InstallError(.invalidParams, "\"labels\": \(error.message)")
            }
        }
        await context.progress(stage: "validating", fraction: 0.1, message: "validating \(ByteSize.format(Int64(weights.count)))")
        let adapter: LoRAAdapter
        let digest: ContentDigest
        do {
            (adapter, digest) = try await requestThread.run {
                (try PEFTAdapterLoader.load(configJSON: configJSON, safetensors: weights), ContentDigest.of(weights))
            }
        } catch {
            throw InstallError(.invalidAdapter, "the adapter is not a valid PEFT LoRA: \(error)")
        }
        // Stored normalised, so every later reader sees one shape with the labels already named.
        let examples: [TaskExample]
        let examplesData: Data
        do {
            (examples, examplesData) = try ExamplesFile.normalise(Data(params.examples.utf8), limits: settings.examplesLimits,
                                                                  labelNames: params.labels)
        } catch {
            throw InstallError(.invalidAdapter, "the examples are invalid: \(error)")
        }
        return Candidate(task: params.task, configJSON: configJSON, weights: weights, examplesData: examplesData,
                         examples: examples, adapter: adapter, digest: digest)
    }

    /// Plans the served set with the accepted adapter first (a budget that cannot hold it even merged
    /// changes nothing), then stores it durably, then writes and switches to the new generation. Returns
    /// once that generation is current; a client that disconnects does not cancel it.
    private func store(_ candidate: Candidate, _ submission: AdapterSubmission, context: RequestContext) async throws
        -> Stored {
        try await replanner.mutating {
            let store = self.store
            let previous = try store.task(named: candidate.task)
            // Durable writes (fsync) run on the planning thread, never on the cooperative pool.
            let examplesData = candidate.examplesData
            let examplesDigest = try await replanner.onPlanningThread { try store.put(examplesData) }
            let adapter = candidate.adapter
            let pending = ServedSetPlanner.Input(
                name: candidate.task, version: (previous?.version ?? 0) + 1,
                ownBytes: candidate.configJSON.count + candidate.weights.count,
                rank: adapter.config.r, profileHash: submission.profileHash, baseModel: submission.baseModel,
                ownSHA256: candidate.digest.hex, examplesFile: store.url(for: examplesDigest).path, load: { adapter })
            await replanner.sketchAtInstall(pending, context: context)
            let budget = try replanner.budget.limit()
            let (plan, placement) = try await replanner.planInstall(pending, budget: budget, context: context)
            let uid = context.peer.uid
            let planning = self.replanner
            let installed = try await planning.onPlanningThread {
                let installed = try store.installTask(name: candidate.task, examples: examplesData, adapter: submission,
                                                      installedBy: uid)
                planning.installed(pending, as: installed, decoded: adapter)
                return installed
            }
            let result: PlanResult
            do {
                result = try await replanner.write(plan, budget: budget, context: context, at: 0.95)
            } catch {
                throw await rollBack(installed, to: previous, after: error)
            }
            return Stored(installed: installed, generation: result.generation ?? 0, replaced: previous?.version,
                          served: result.tasks.first { $0.task == candidate.task }, placement: placement)
        }
    }

    /// Undoes an install whose generation could not be written, so that its error means "nothing
    /// changed": the task goes back to its previous version (or away, if it was new), which the
    /// current generation still serves. Returns the error to send, saying what state the task is in.
    func rollBack(_ installed: InstalledTask, to previous: InstalledTask?, after error: any Error) async -> any Error {
        let store = self.store
        // A failure after the generation became current leaves a served install: keep it.
        if let route = try? store.route(task: installed.name), route.taskVersion == installed.version { return error }
        let attempt = "cannot write the served set with '\(installed.name)' version \(installed.version)"
        do {
            try await undo {
                if let previous { try store.restoreTask(previous) } else { _ = try store.removeTask(named: installed.name) }
            }
        } catch let undo {
            logger.error("\(attempt): \(error); undoing the install failed too: \(undo)")
            return ChangeError(attempt: attempt, cause: error, outcome: "undoing it failed (\(undo)), so version \(installed.version) "
                                   + "is installed but not served until the next re-plan (adapterctl recluster)")
        }
        let state = previous.map { "'\($0.name)' is still version \($0.version), served as before" }
            ?? "'\(installed.name)' is not installed"
        logger.error("\(attempt): \(error); install undone: \(state)")
        return ChangeError(attempt: attempt, cause: error, outcome: "nothing changed: \(state)")
    }

    /// Runs a catalog undo on the planning thread; on a full disk (SQLite needs a few free pages even
    /// to delete) it releases the space reserve and tries once more.
    func undo(_ change: @escaping @Sendable () throws -> Void) async throws {
        let store = self.store
        try await replanner.planningThread.run {
            do {
                try change()
            } catch {
                guard store.releaseSpaceReserve() else { throw error }
                try change()
            }
            store.ensureSpaceReserve()
        }
    }
}
