import AdapterCore
import AdapterDaemon
import ArgumentParser
import Foundation

/// Release-mode benchmarks; each prints its ratio against a baseline measured in the same run.
@main
struct AdapterdBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adapterd-bench",
        abstract: "Benchmarks of adapterd against baselines measured in the same run.",
        subcommands: [
            SignatureBenchmark.self, MergeBenchmark.self, ScanBench.self, ServerBench.self, EmbedBenchmark.self,
            ClusterBench.self, QualityBench.self, JointQualityBench.self, RouteAccuracyBench.self, LoadBench.self, ReadBenchmark.self,
            ReclusterBench.self, PlanBench.self,
        ])

    /// Runs with the daemon's allocator settings (`AllocatorTuning`), applied as adapterd applies them,
    /// first thing: what is measured here runs inside the daemon.
    static func main() async {
        _ = AllocatorTuning.inForce
        await main(nil)
    }
}
