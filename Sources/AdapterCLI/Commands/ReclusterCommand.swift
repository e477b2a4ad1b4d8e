import AdapterCore
import AdapterProtocol
import ArgumentParser
import Foundation

/// `adapterctl recluster [--budget SIZE] [--dry-run]`: plans the served set again (clusters and
/// merges when the tasks' own adapters exceed the budget) and shows the plan.
struct ReclusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recluster",
        abstract: "Re-plan the served set under the budget: K clusters, merged adapters, retained quality.",
        discussion: """
            Without --dry-run the plan becomes the current generation (routing keeps answering from the \
            previous one until then); --budget also stores the new budget, like `adapterctl budget`. \
            With --dry-run nothing changes. Progress is drawn on stderr when it is a terminal.
            """)

    /// Taken whatever it looks like, so that `--budget -1` reaches the size parser (and gets
    /// "negative") instead of "missing value".
    @Option(name: .long, parsing: .unconditional, help: "Plan for this budget instead of the one in force (e.g. 2MiB).")
    var budget: String?

    @Flag(name: .long, help: "Only show the plan; change nothing.")
    var dryRun = false

    @OptionGroup var client: ClientOptions

    func validate() throws {
        _ = try newBudget()
    }

    /// `--budget`: a limited budget (recluster cannot carry `unlimited`); nil when not given.
    func newBudget() throws(ValidationError) -> Budget? {
        guard let budget else { return nil }
        let parsed: Budget
        do {
            parsed = try Budget.parse(budget, what: "--budget")
        } catch {
            throw ValidationError(error.message)
        }
        guard case .bytes = parsed else {
            throw ValidationError("--budget needs a size; to plan without a limit, set `adapterctl budget unlimited`")
        }
        return parsed
    }

    func run() async throws {
        let newBudget = try newBudget()
        let bar = ProgressBar(enabled: !client.json && isatty(2) == 1)
        let plan: PlanResult
        do {
            plan = try await client.withClient { connection in
                try await connection.call(Methods.Recluster.self, ReclusterParams(budget: newBudget, dryRun: dryRun)) { bar.update($0) }
            }
            bar.finish()
        } catch {
            bar.finish()
            throw error
        }
        if client.json { return Output.printJSON(plan) }
        Output.printText(Self.render(plan))
    }

    /// The plan as a header line, a cluster table and a per-task table.
    static func render(_ plan: PlanResult) -> String {
        var lines: [String] = []
        let what = plan.dryRun ? "plan (dry run, nothing changed)" : "generation \(plan.generation ?? 0) is current"
        lines.append("\(what): \(plan.clusterCount) served adapter\(plan.clusterCount == 1 ? "" : "s") (\(plan.kind))"
                     + ", \(Output.size(plan.totalBytes)) of budget \(plan.budget.formatted())"
                     + " (own adapters would take \(Output.size(plan.ownTotalBytes)))")
        lines.append("retained quality: mean \(Output.format(plan.meanRetainedQuality)), worst "
                     + "\(Output.format(plan.worstRetainedQuality))\(plan.worstTask.map { " (\($0))" } ?? "")"
                     + " by \(plan.evaluator)"
                     + (plan.merger.map { "; merged by \($0) in \(plan.dtype), \(plan.rounds) refinement rounds, \(plan.evaluations) evaluations" } ?? ""))
        if let note = plan.evaluatorNote { lines.append("note: \(note)") }
        lines.append("")
        lines.append(clusterTable(plan.clusters))
        lines.append("")
        lines.append(taskTable(plan.tasks, clusters: plan.clusters))
        return lines.joined(separator: "\n")
    }

    static func clusterTable(_ clusters: [PlanCluster]) -> String {
        let rows = clusters.map { cluster in
            [cluster.id.map(String.init) ?? "#\(cluster.index)", Output.servedKind(cluster.kind, taskCount: cluster.tasks.count),
             "\(cluster.rank)", Output.size(cluster.bytes),
             cluster.sha256.map { String($0.prefix(12)) } ?? "-", cluster.tasks.joined(separator: ", ")]
        }
        return TextTable(header: ["CLUSTER", "KIND", "RANK", "SIZE", "SHA256", "TASKS"], rows: rows).render()
    }

    static func taskTable(_ tasks: [PlanTask], clusters: [PlanCluster]) -> String {
        let rows = tasks.map { task -> [String] in
            let cluster = task.cluster >= 0 && task.cluster < clusters.count ? clusters[task.cluster] : nil
            return [task.task, "\(task.version)", cluster.map { $0.id.map(String.init) ?? "#\($0.index)" } ?? "-",
                    cluster.map { Output.servedKind($0.kind, taskCount: $0.tasks.count) } ?? "-",
                    Output.format(task.retainedQuality), scoredBy(task.evaluator)]
        }
        return TextTable(header: ["TASK", "VERSION", "CLUSTER", "SERVED BY", "RETAINED", "SCORED BY"], rows: rows).render()
    }

    /// Which evaluator produced a retained quality, said plainly: the weight-space figure is the share
    /// of the update's energy kept, not an accuracy.
    static func scoredBy(_ evaluator: String?) -> String {
        guard let evaluator else { return "-" }
        return evaluator == "weight-space" ? "weight-space (energy share)" : evaluator.terminalSafe
    }
}
