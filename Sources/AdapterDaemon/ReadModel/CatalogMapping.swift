import AdapterCore
import AdapterProtocol
import AdapterStore
import Foundation

/// Conversions between the store's records and the protocol's messages.
enum CatalogMapping {
    static let timeFormat = Date.ISO8601FormatStyle()

    static func time(_ date: Date) -> String { date.formatted(timeFormat) }

    static func summary(_ task: InstalledTask, route: Route?, examples: Int) -> TaskSummary {
        TaskSummary(
            task: task.name, version: task.version, sha256: task.adapter.weightsDigest.hex,
            bytes: Int64(task.adapter.weightsBytes), rank: task.adapter.rank, baseModel: task.adapter.baseModel,
            examples: examples, installedAt: time(task.adapter.installedAt), score: task.adapter.verdict.score,
            servedBy: route?.servedAdapter.weightsDigest.hex)
    }

    /// The detector's verdict on the wire (the one conversion from the core's verdict): the decision's
    /// name, each feature's standardised value, the model that judged.
    static func verdict(_ verdict: Verdict) -> VerdictInfo {
        VerdictInfo(
            decision: verdict.decision.rawValue, score: verdict.score, threshold: verdict.threshold,
            topFeatures: verdict.topFeatures.map { VerdictFeature(name: $0.name, value: $0.z, contribution: $0.contribution) },
            model: verdict.model, reasons: verdict.reasons.isEmpty ? nil : verdict.reasons)
    }

    /// A stored verdict on the wire.
    static func verdict(_ record: VerdictRecord) -> VerdictInfo {
        VerdictInfo(
            decision: record.label, score: record.score, threshold: record.threshold,
            topFeatures: record.topFeatures.map { VerdictFeature(name: $0.name, value: $0.value, contribution: $0.contribution) },
            model: record.reason ?? "")
    }

    /// A verdict as the store keeps it: its wire form, with a score that could not be computed kept as 1
    /// (the store holds finite numbers only).
    static func record(_ verdict: VerdictInfo) -> VerdictRecord {
        VerdictRecord(
            score: verdict.score.isFinite ? verdict.score : 1, threshold: verdict.threshold, label: verdict.decision,
            topFeatures: verdict.topFeatures.map { .init(name: $0.name, value: $0.value, contribution: $0.contribution) },
            reason: verdict.model)
    }

    static func route(_ route: Route, evaluator: String? = nil) -> RouteResult {
        RouteResult(
            task: route.task, version: route.taskVersion, generation: route.generationID,
            adapter: servedAdapter(route.servedAdapter), retainedQuality: route.retainedQuality, evaluator: evaluator)
    }

    /// A served adapter (a cluster) as the protocol reports it.
    static func servedAdapter(_ served: StoredServedAdapter) -> AdapterProtocol.ServedAdapter {
        AdapterProtocol.ServedAdapter(
            id: served.weightsDigest.hex, kind: served.kind.rawValue, tasks: served.memberTasks,
            bytes: Int64(served.bytes),
            configPath: served.directory.appendingPathComponent("adapter_config.json").path,
            weightsPath: served.directory.appendingPathComponent("adapter_model.safetensors").path,
            cluster: served.id, directory: served.directory.path, sha256: served.weightsDigest.hex,
            rank: served.rank, scale: served.scale)
    }

    static func quarantine(_ record: QuarantineRecord) -> QuarantineEntry {
        QuarantineEntry(
            id: record.id, task: record.task, sha256: record.weightsDigest.hex, bytes: 0, time: time(record.refusedAt),
            peerUid: record.peerUID, verdict: verdict(record.verdict))
    }

    /// A sentence for a refusal.
    static func refusalReason(_ verdict: Verdict) -> String {
        switch verdict.decision {
        case .poisoned where verdict.isBehaviourallyPoisoned:
            return "screened as poisoned by its behaviour on the install's examples: "
                + (verdict.behaviour?.summary(against: verdict.behaviouralThreshold) ?? "")
        case .poisoned:
            let top = verdict.topFeatures.prefix(2).map { "\($0.name) \(String(format: "%+.2f", $0.contribution))" }
            return String(format: "screened as poisoned (score %.3f ≥ threshold %.3f", verdict.score, verdict.threshold)
                + (top.isEmpty ? ")" : "; strongest: \(top.joined(separator: ", ")))")
        case .outOfDistribution:
            return "out of the detector's distribution, so it cannot be screened as benign"
                + (verdict.reasons.isEmpty ? "" : " (\(verdict.reasons.joined(separator: "; ")))")
        case .benign:
            return "benign"
        }
    }

    /// Hash of the base-model profile: base model and every module's (name, in, out).
    static func profileHash(_ adapter: LoRAAdapter) -> String {
        var text = (adapter.config.baseModelNameOrPath ?? "unknown") + "\n"
        for module in adapter.modules.sorted(by: { $0.name < $1.name }) {
            text += "\(module.name) \(module.inFeatures) \(module.outFeatures)\n"
        }
        return ContentDigest.of(Data(text.utf8)).hex
    }

    /// `target_modules` of a config (a list, or a single regular expression string).
    static func targetModules(configJSON: Data) -> [String] {
        guard let object = try? JSONSerialization.jsonObject(with: configJSON) as? [String: Any] else { return [] }
        if let list = object["target_modules"] as? [String] { return list.sorted() }
        if let pattern = object["target_modules"] as? String { return [pattern] }
        return []
    }

    /// The global scale of a config: lora_alpha / r, or lora_alpha / √r under rsLoRA.
    static func scale(configJSON: Data) -> Double {
        guard let object = try? JSONSerialization.jsonObject(with: configJSON) as? [String: Any],
              let r = (object["r"] as? NSNumber)?.doubleValue, r > 0 else { return 1 }
        let alpha = (object["lora_alpha"] as? NSNumber)?.doubleValue ?? r
        let rs = (object["use_rslora"] as? Bool) ?? false
        return rs ? alpha / r.squareRoot() : alpha / r
    }

    /// A damaged object as `status` and `verify` report it: with the installed tasks whose files it is
    /// and the current generation's served adapters (clusters) whose files it is.
    static func damaged(_ object: DamagedObject, tasks: [InstalledTask], generation: Generation?) -> DamagedObjectInfo {
        let digest = object.digest
        let owners = tasks.filter {
            [$0.examplesDigest, $0.adapter.configDigest, $0.adapter.weightsDigest].contains(digest)
        }.map(\.name).sorted()
        let clusters = (generation?.servedAdapters ?? []).filter { $0.configDigest == digest || $0.weightsDigest == digest }
            .map(\.id).sorted()
        return DamagedObjectInfo(
            sha256: digest.hex, bytes: object.recordedBytes.map(Int64.init), problem: object.problem, tasks: owners,
            clusters: clusters, setAsideAs: object.setAsideAs, detectedAt: time(object.detectedAt))
    }
}
