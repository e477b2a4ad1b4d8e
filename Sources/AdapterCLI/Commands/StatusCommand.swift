import AdapterProtocol
import ArgumentParser
import Foundation

/// `adapterctl status`: health, counts, budget and detector of the daemon.
struct StatusCommand: DaemonQueryCommand {
    typealias Method = Methods.Status

    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show the daemon's state: tasks, generation, budget, detector.")

    @OptionGroup var client: ClientOptions

    /// The status lines; the daemon's strings escaped for the terminal.
    static func render(_ status: StatusResult) -> String {
        var lines = [
            "adapterd \(status.version.terminalSafe) (protocol \(status.protocolVersion)), pid \(status.pid), up \(formatUptime(status.uptimeSeconds))\(status.socketActivated ? ", socket-activated" : "")",
            "tasks:       \(status.tasks)",
            "generation:  \(status.generation)",
            "budget:      \(Output.budgetLine(status.budget))",
            "quarantined: \(status.quarantined)",
            "detector:    \(status.detector.model.terminalSafe), threshold \(Output.format(status.detector.threshold))",
        ]
        if let behaviour = status.detector.behaviour { lines.append("behaviour:   \(behaviour.terminalSafe)") }
        lines += [
            textRoutingLine(status.textRouting),
            evaluatorLine(status.evaluator),
            "you:         uid \(status.peer.uid)\(status.peer.mayMutate ? ", may install/remove" : ", read-only")",
        ]
        if let storage = status.storage { lines.append(contentsOf: renderStorage(storage)) }
        if let served = status.served {
            lines.append(contentsOf: renderServed(served))
        }
        return lines.joined(separator: "\n")
    }

    /// The state directory's health: read-only and why, damaged objects and their tasks, last verify.
    static func renderStorage(_ storage: StorageStatus) -> [String] {
        var lines: [String] = []
        if storage.readOnly {
            lines.append("storage:     READ-ONLY: \((storage.readOnlyReason ?? "no reason given").terminalSafe)")
        } else {
            lines.append("storage:     writable, \(storage.damagedObjects.count) damaged object(s)"
                         + (storage.lastVerifiedAt.map { ", last verified \($0.terminalSafe)" } ?? ", not verified since start"))
        }
        for damaged in storage.damagedObjects {
            let tasks = damaged.tasks.isEmpty ? "" : " (tasks: \(damaged.tasks.joined(separator: ", ")))"
            lines.append("  damaged:   \(damaged.sha256.prefix(16))… \(damaged.problem)\(tasks)".terminalSafe)
        }
        return lines
    }

    /// The served set: clusters and per-task retained quality with the evaluator that produced it.
    static func renderServed(_ served: ServedSetInfo) -> [String] {
        var lines = [
            "served:      \(served.clusters.count) adapter\(served.clusters.count == 1 ? "" : "s") (\(served.kind.terminalSafe))"
                + (served.lastReclusterAt.map { ", since \($0.terminalSafe)" } ?? "")
                + (served.reclustering ? "; a re-cluster is running" : ""),
            "quality:     mean \(served.meanRetainedQuality.map(Output.format) ?? "-"), worst "
                + "\(served.worstRetainedQuality.map(Output.format) ?? "-")\(served.worstTask.map { " (\($0.terminalSafe))" } ?? "")"
                + " by \(served.evaluator.terminalSafe)",
        ]
        if let note = served.evaluatorNote { lines.append("note:        \(note.terminalSafe)") }
        if served.policy == PlacementPolicy.placed {
            lines.append("pending:     installs placed their tasks into this served set; every task is planned "
                         + "again in the background")
        } else if served.policy == PlacementPolicy.placedKept {
            lines.append("kept:        installs placed their tasks into this served set, and it scored higher than the "
                         + "plan of every task made after them")
        }
        lines.append("")
        lines.append(ReclusterCommand.clusterTable(served.clusters))
        lines.append("")
        lines.append(ReclusterCommand.taskTable(served.tasks, clusters: served.clusters))
        return lines
    }

    /// "text route:  minilm (all-MiniLM-L6-v2), 12 tasks — text-embedder = auto; model found in …" (why this
    /// embedder serves, and why MiniLM is not in use, if it was configured).
    static func textRoutingLine(_ info: TextRoutingInfo?) -> String {
        guard let info else { return "text route:  - (the daemon predates route.text)" }
        let fallback = info.fallbackReason.map { "; minilm unavailable: \($0.terminalSafe)" } ?? ""
        let reason = info.reason.map { " — \($0.terminalSafe)" } ?? ""
        return "text route:  \(info.embedder.terminalSafe) (\(info.model.terminalSafe)), \(info.tasks) tasks\(reason)\(fallback)"
    }

    /// "evaluator:   label-probability — evaluator = auto; base model …" (what the next re-cluster scores with, and why).
    static func evaluatorLine(_ info: EvaluatorInfo?) -> String {
        guard let info else { return "evaluator:   - (the daemon predates this line)" }
        return "evaluator:   \(ReclusterCommand.scoredBy(info.name)) — \(info.reason.terminalSafe)"
    }

    static func formatUptime(_ seconds: Double) -> String {
        // The daemon's number: NaN, negative or beyond Int (a hostile or broken server) must not trap.
        guard seconds.isFinite, seconds >= 0 else { return "unknown" }
        let total = Int(min(seconds, 1e15))
        if total < 60 { return "\(total)s" }
        if total < 3600 { return "\(total / 60)m\(total % 60)s" }
        return "\(total / 3600)h\((total % 3600) / 60)m"
    }
}
