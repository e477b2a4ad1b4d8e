import Synchronization
import Testing
@testable import AdapterCore

/// Remembers every (task, candidate) it scores; scores by weight space.
final class RecordingEvaluator: Evaluator {
    let seen = Mutex<[(task: String, candidate: LoRAAdapter)]>([])
    var name: String { "recording" }

    func score(task: TaskProfile, candidate: LoRAAdapter) async throws -> Double {
        seen.withLock { $0.append((task.name, candidate)) }
        return WeightSpaceEvaluator.score(own: task.adapter, candidate: candidate)
    }
}

@Suite struct CandidateMergeTests {
    /// The member sets (as index sets) whose uniform exact merge equals the candidate.
    static func memberSets(of candidate: LoRAAdapter, tasks: [TaskProfile]) throws -> [Set<Int>] {
        var found: [Set<Int>] = []
        for mask in 1..<(1 << tasks.count) {
            let members = tasks.indices.filter { mask & (1 << $0) != 0 }
            let mean = try ConcatenatingMerger().merge(members.map { tasks[$0].adapter },
                                                       weights: members.map { _ in 1 / Double(members.count) }, rank: 4)
            if FactoredUpdates.distanceSquared(mean, candidate) < 1e-9 * FactoredUpdates.normSquared(mean) {
                found.append(Set(members))
            }
        }
        return found
    }

    @Test(arguments: ClusterRefiner.CandidateMerge.allCases)
    func candidatesContainTheTaskOnlyWhenAsked(mode: ClusterRefiner.CandidateMerge) async throws {
        let (tasks, _) = SyntheticTasks.families(families: 2, perFamily: 3, noise: 0.3, seed: 3)
        let recording = RecordingEvaluator()
        let refiner = ClusterRefiner(evaluator: recording, merger: ConcatenatingMerger())
        let scrambled = tasks.indices.map { $0 % 2 }
        _ = try await refiner.refine(tasks: tasks, clusterCount: 2, mergedRank: 4,
                                     options: .init(maxRounds: 1, candidateMerge: mode), initialAssignment: scrambled)
        let index = Dictionary(uniqueKeysWithValues: tasks.enumerated().map { ($1.name, $0) })
        var containing = 0
        var without = 0
        for (name, candidate) in recording.seen.withLock({ $0 }) {
            let i = index[name]!
            let sets = try Self.memberSets(of: candidate, tasks: tasks)
            #expect(!sets.isEmpty)
            if sets.contains(where: { $0.contains(i) }) { containing += 1 } else { without += 1 }
        }
        switch mode {
        case .withTask: #expect(without == 0 && containing > tasks.count)
        case .withoutTask: #expect(without > 0)
        }
    }

    @Test func withTaskRepairsAScrambledStartAndNeverEndsLower() async throws {
        let (tasks, family) = SyntheticTasks.families(families: 3, perFamily: 4, noise: 0.2, seed: 9)
        let refiner = ClusterRefiner(evaluator: WeightSpaceEvaluator(), merger: ConcatenatingMerger())
        let scrambled = tasks.indices.map { $0 % 3 }
        let result = try await refiner.refine(tasks: tasks, clusterCount: 3, mergedRank: 4,
                                              options: .init(candidateMerge: .withTask), initialAssignment: scrambled)
        #expect(result.meanQuality >= result.roundMeanQuality[0])
        #expect(result.meanQuality == result.roundMeanQuality.max())
        #expect(RefinementTests.partition(result.assignment) == RefinementTests.partition(family))
        // Same inputs, same result.
        let again = try await refiner.refine(tasks: tasks, clusterCount: 3, mergedRank: 4,
                                             options: .init(candidateMerge: .withTask), initialAssignment: scrambled)
        #expect(again.assignment == result.assignment && again.quality == result.quality)
    }
}
