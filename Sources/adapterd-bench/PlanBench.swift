import AdapterCore
import ArgumentParser
import Foundation

/// `adapterd-bench plan`: the daemon's full plan (`JointBudgetPlanner`, weight-space evaluator, F16
/// storage) of N synthetic adapters in F families, in process — no store, no socket — with the time
/// of each phase its progress names, and the served set it chose, so that two builds can be compared
/// plan for plan (the same seed gives the same adapters).
struct PlanBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Time the daemon's full plan of N synthetic adapters in families, phase by phase, and print the plan.")

    @Option(help: "Number of tasks N.") var tasks = 16
    @OptionGroup var workload: SyntheticFamilyOptions
    @OptionGroup var blas: BLASThreadOptions
    @Option(help: "Compute threads (modules in parallel), comma-separated: one plan each, the first the baseline.")
    var computeThreads = "1"

    func run() async throws {
        blas.apply()
        guard tasks > 0 else { throw ValidationError("--tasks must be positive") }
        let threadCounts = try PositiveCounts.parse(computeThreads, what: "thread count")
        let familyAdapters = workload.familyAdapters()
        var profiles: [TaskProfile] = []
        for index in 0..<tasks {
            let (task, member) = workload.member(index, of: tasks, families: familyAdapters)
            // As the daemon sees it: read back from its F16 files.
            let files = try PEFTAdapterWriter.serialize(member, dtype: .f16)
            let adapter = try PEFTAdapterLoader.load(configJSON: files.config, safetensors: files.weights)
            profiles.append(TaskProfile(name: task, version: 1, adapter: adapter,
                                        ownBytes: files.config.count + files.weights.count))
        }
        let ownTotal = profiles.reduce(0) { $0 + $1.ownBytes }
        let budget = Int((Double(ownTotal) * workload.fraction).rounded(.down))
        print("plan: \(tasks) \(workload.shape.description) rank \(workload.rank) adapters in \(workload.families) families "
              + "(±\(workload.spread)), budget \(BudgetFractions.text(workload.fraction)) = \(ByteSize.format(Int64(budget))) of \(ByteSize.format(Int64(ownTotal))), "
              + "OpenBLAS threads \(BLASThreads.count) (\(BLASThreads.coreName)), \(ProcessInfo.processInfo.activeProcessorCount) cores")

        var runs: [(threads: Int, seconds: Double, served: [String])] = []
        for threads in threadCounts {
            ComputeThreads.set(threads)
            print("compute threads \(threads):")
            let run = try await planOnce(profiles, budget: budget)
            runs.append((threads, run.seconds, run.served))
        }
        guard let first = runs.first, runs.count > 1 else { return }
        for run in runs.dropFirst() {
            print(String(format: "compute threads %d: %.2f s, %.2fx the %d-thread plan; served set %@", run.threads,
                         run.seconds, first.seconds / run.seconds, first.threads,
                         run.served == first.served ? "identical" : "DIFFERENT"))
        }
    }

    /// One plan, its phases and served set printed; its seconds and the served set's lines.
    private func planOnce(_ profiles: [TaskProfile], budget: Int) async throws -> (seconds: Double, served: [String]) {
        let log = ProgressLog()
        let plan = try await JointBudgetPlanner().plan(tasks: profiles, budget: budget) { fraction, message in
            log.add(fraction, message)
        }
        log.add(1, "done")
        // Each line's seconds: from its start to the next line, the first from the start of the plan.
        let marks = [(0.0, "start")] + log.lines
        let total = marks.last?.0 ?? 0
        print("phases (seconds from the previous line):")
        for (previous, next) in zip(marks, marks.dropFirst()) {
            print(String(format: "  %7.2f  %@", next.0 - previous.0, previous.1))
        }
        print(String(format: "total %.2f s, policy %@, %d evaluations", total, plan.policy.rawValue, plan.evaluations))
        var qualities: [Double] = []
        var served: [String] = []
        for group in plan.groups {
            for cluster in group.plan.clusters {
                served.append("  served: rank \(cluster.rank)\(cluster.usesOwnAdapter ? " (own)" : ""), "
                              + "\(ByteSize.format(Int64(cluster.bytes))): \(cluster.members.sorted().joined(separator: " "))")
            }
            qualities += group.plan.tasks.map(\.quality)
        }
        let mean = qualities.reduce(0, +) / Double(max(1, qualities.count))
        served.append(String(format: "mean quality %.6f, worst %.6f, bytes %@", mean, qualities.min() ?? 0,
                             ByteSize.format(Int64(plan.groups.reduce(0) { $0 + $1.plan.totalBytes }))))
        for line in served { print(line) }
        return (total, served)
    }
}
