import AdapterCore
import AdapterProtocol
import AdapterStore
import Foundation

extension AdapterService {
    /// The install path: limits → decode → validate → signature → verdict → refused (quarantine
    /// record, error) or accepted (stored durably with its examples, served, then acknowledged).
    func install(_ params: InstallParams, _ context: RequestContext) async throws -> InstallResult {
        let settings = self.settings.withLockedValue { $0 }
        guard TaskName.isValid(params.task) else {
            throw RPCError(code: .invalidParams, message: "task name '\(params.task.prefix(80))' is invalid: use 1–64 characters of A–Z a–z 0–9 . _ -, starting with a letter or digit")
        }
        // A store that cannot change anything refuses at once, before the heavy work.
        if let reason = store.readOnlyReason() {
            throw RPCError(code: .readOnly, message: "read-only: \(reason)")
        }
        // Route-by-text re-reads the task from the catalog whatever happens below (accepted, refused, failed).
        defer { textIndex.refresh(task: params.task) }
        let base64Limit = (settings.maxAdapterBytes + 2) / 3 * 4
        guard Int64(params.safetensors.utf8.count) <= base64Limit else {
            let approximate = Int64(params.safetensors.utf8.count) / 4 * 3
            throw RPCError(code: .tooLarge,
                           message: "the adapter is about \(ByteSize.format(approximate)); the limit is \(ByteSize.format(settings.maxAdapterBytes))",
                           details: TooLargeDetails(limitBytes: settings.maxAdapterBytes, actualBytes: approximate))
        }
        guard Int64(params.examples.utf8.count) <= settings.maxExamplesBytes else {
            throw RPCError(code: .tooLarge,
                           message: "the examples are \(ByteSize.format(Int64(params.examples.utf8.count))); the limit is \(ByteSize.format(settings.maxExamplesBytes))",
                           details: TooLargeDetails(limitBytes: settings.maxExamplesBytes, actualBytes: Int64(params.examples.utf8.count)))
        }
        guard let weights = Data(base64Encoded: params.safetensors) else {
            throw RPCError(code: .invalidParams, message: "\"safetensors\" is not valid base64 (RFC 4648, with padding)")
        }
        let configJSON = Data(params.config.utf8)
        let examplesData = Data(params.examples.utf8)
        await context.progress(stage: "validating", fraction: 0.1, message: "validating \(ByteSize.format(Int64(weights.count)))")

        let adapter: LoRAAdapter
        do {
            adapter = try await requestThread.run { try PEFTAdapterLoader.load(configJSON: configJSON, safetensors: weights) }
        } catch {
            throw RPCError(code: .invalidAdapter, message: "the adapter is not a valid PEFT LoRA: \(error)")
        }
        let examples: [TaskExample]
        do {
            examples = try ExamplesFile.parse(examplesData, limits: settings.examplesLimits)
        } catch {
            throw RPCError(code: .invalidAdapter, message: "the examples are invalid: \(error)")
        }

        await context.progress(stage: "signature", fraction: 0.3, message: "computing the spectral signature")
        // A signature that cannot be computed (an update that overflows) is reported only if the detector
        // accepts the adapter: the detector refuses such an update as out of distribution, with its reason.
        let signatureResult = try await requestThread.run { Result { try SignatureExtractor.signature(of: adapter) } }

        await context.progress(stage: "screening", fraction: 0.5, message: "screening with the detector")
        let screening = self.screening.withLockedValue { $0 }
        let verdict: ScreeningVerdict
        do {
            verdict = try await requestThread.run { try screening.screen(adapter) }
        } catch {
            throw RPCError(code: .invalidAdapter, message: "the detector cannot judge this adapter: \(error)")
        }
        let digest = ContentDigest.of(weights)
        guard verdict.accepted else {
            let record = try translating {
                try store.addQuarantine(weightsDigest: digest, task: params.task,
                                        verdict: CatalogMapping.record(verdict), peerUID: context.peer.uid)
            }
            refreshQuarantineCount()
            logger.warning(
                "refused \(params.task): \(verdict.decision.rawValue), score \(verdict.score) ≥ \(verdict.threshold)",
                metadata: ["sha256": "\(digest.hex)", "peer": "\(context.peer)", "quarantine": "\(record.id)"])
            throw RPCError(
                code: .refused,
                message: "adapter for '\(params.task)' refused: \(CatalogMapping.refusalReason(verdict))",
                details: RefusalDetails(task: params.task, sha256: digest.hex, verdict: verdict.info, quarantineId: record.id))
        }

        let signature: AdapterSignature
        do {
            signature = try signatureResult.get()
        } catch {
            throw RPCError(code: .invalidAdapter, message: "cannot compute the adapter's signature: \(error)")
        }

        await context.progress(stage: "storing", fraction: 0.7, message: "storing durably")
        let submission = AdapterSubmission(
            configJSON: configJSON, weights: weights, rank: adapter.config.r, dtype: adapter.storageDType,
            baseModel: adapter.config.baseModelNameOrPath ?? "unknown",
            profileHash: CatalogMapping.profileHash(adapter), signature: signature.values,
            verdict: CatalogMapping.record(verdict))
        // Accepted: plan the served set with this adapter first (a budget that cannot hold it even
        // merged changes nothing), then store it durably, then write and switch to the new generation.
        // The reply comes once that generation is current; a client that disconnects does not cancel it.
        let (installed, generation, replaced) = try await mutating {
            let store = self.store
            let previous = try translating { try store.task(named: params.task) }
            // Durable writes (fsync) run on the planning thread, never on the cooperative pool.
            let examplesDigest = try await onPlanningThread { try store.put(examplesData) }
            let pending = ServedSetPlanner.Input(
                name: params.task, version: (previous?.version ?? 0) + 1, ownBytes: configJSON.count + weights.count,
                rank: adapter.config.r, profileHash: submission.profileHash, baseModel: submission.baseModel,
                ownSHA256: digest.hex, examplesFile: store.url(for: examplesDigest).path, load: { adapter })
            let budget = try translating { try budgetLimit() }
            let plan = try await makePlan(budget: budget, dryRun: false, pending: pending, context: context, range: 0.7...0.95)
            let uid = context.peer.uid
            let installed = try await onPlanningThread {
                try store.installTask(name: params.task, examples: examplesData, adapter: submission, installedBy: uid)
            }
            let result: PlanResult
            do {
                result = try await write(plan, budget: budget, context: context, at: 0.95)
            } catch {
                throw await rollBack(installed, to: previous, after: error)
            }
            return (installed, result.generation ?? 0, previous?.version)
        }
        logger.notice("installed \(params.task) version \(installed.version)",
                      metadata: ["sha256": "\(digest.hex)", "peer": "\(context.peer)", "generation": "\(generation)"])
        await context.progress(stage: "done", fraction: 1, message: "installed")
        return InstallResult(
            task: installed.name, version: installed.version, replacedVersion: replaced, sha256: digest.hex,
            bytes: Int64(weights.count), examples: examples.count, verdict: verdict.info, generation: generation,
            budget: try translating { try budgetStatus() })
    }

    /// Undoes an install whose generation could not be written, so that its error means "nothing
    /// changed": the task goes back to its previous version (or away, if it was new), which the
    /// current generation still serves. Returns the error to send, saying what state the task is in.
    func rollBack(_ installed: InstalledTask, to previous: InstalledTask?, after error: any Error) async -> any Error {
        let store = self.store
        let reason = (error as? RPCError)?.message ?? "\(error)"
        let code = (error as? RPCError)?.code ?? .internalError
        // A failure after the generation became current leaves a served install: keep it.
        if let route = try? store.route(task: installed.name), route.taskVersion == installed.version { return error }
        let attempt = "cannot write the served set with '\(installed.name)' version \(installed.version): \(reason)"
        let undoInstall: @Sendable () throws -> Void = {
            if let previous { try store.restoreTask(previous) } else { _ = try store.removeTask(named: installed.name) }
        }
        do {
            try await planningThread.run {
                do {
                    try undoInstall()
                } catch {
                    // A full disk: SQLite needs a few free pages even to delete; use the space reserve.
                    guard store.releaseSpaceReserve() else { throw error }
                    try undoInstall()
                }
                store.ensureSpaceReserve()
            }
        } catch let undo {
            logger.error("\(attempt); undoing the install failed too: \(undo)")
            return RPCError(code: code, message: "\(attempt); undoing it failed (\(undo)), so version \(installed.version) "
                                + "is installed but not served until the next re-plan (adapterctl recluster)")
        }
        let state = previous.map { "'\($0.name)' is still version \($0.version), served as before" }
            ?? "'\(installed.name)' is not installed"
        logger.error("\(attempt); install undone: \(state)")
        return RPCError(code: code, message: "\(attempt); nothing changed: \(state)")
    }
}
