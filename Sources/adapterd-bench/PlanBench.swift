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

    func run() async throws {
        blas.apply()
        guard tasks > 0 else { throw ValidationError("--tasks must be positive") }
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
              + "OpenBLAS threads \(BLASThreads.count) (\(BLASThreads.coreName))")

        let phases = PhaseClock()
        let started = ContinuousClock.now
        let plan = try await JointBudgetPlanner().plan(tasks: profiles, budget: budget) { _, message in
            phases.mark(message)
        }
        let total = Self.seconds(ContinuousClock.now - started)
        phases.mark("done")
        print("phases (seconds from the previous line):")
        for (message, seconds) in phases.lines { print(String(format: "  %7.2f  %@", seconds, message)) }
        print(String(format: "total %.2f s, policy %@, %d evaluations", total, plan.policy.rawValue, plan.evaluations))
        var qualities: [Double] = []
        for group in plan.groups {
            for cluster in group.plan.clusters {
                print("  served: rank \(cluster.rank)\(cluster.usesOwnAdapter ? " (own)" : ""), "
                      + "\(ByteSize.format(Int64(cluster.bytes))): \(cluster.members.sorted().joined(separator: " "))")
            }
            qualities += group.plan.tasks.map(\.quality)
        }
        let mean = qualities.reduce(0, +) / Double(max(1, qualities.count))
        print(String(format: "mean quality %.6f, worst %.6f, bytes %@", mean, qualities.min() ?? 0,
                     ByteSize.format(Int64(plan.groups.reduce(0) { $0 + $1.plan.totalBytes }))))
    }

    static func seconds(_ duration: Duration) -> Double {
        let parts = duration.components
        return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
    }
}

/// The progress messages of a plan with the seconds each took since the one before.
final class PhaseClock: @unchecked Sendable {
    private let lock = NSLock()
    private var last = ContinuousClock.now
    private var previous = "start"
    private(set) var lines: [(String, Double)] = []

    func mark(_ message: String) {
        lock.lock()
        defer { lock.unlock() }
        let now = ContinuousClock.now
        lines.append((previous, PlanBench.seconds(now - last)))
        last = now
        previous = message
    }
}
