import Testing
@testable import AdapterCore

@Suite struct KMedoidsTests {
    static func partition(_ labels: [Int]) -> Set<Set<Int>> {
        Set(Dictionary(grouping: labels.indices, by: { labels[$0] }).values.map(Set.init))
    }

    @Test func recoversSyntheticFamilies() throws {
        let (tasks, family) = SyntheticTasks.families(families: 5, perFamily: 6, noise: 0.5, seed: 3)
        let sim = try TaskSimilarity.compute(names: tasks.map(\.name), adapters: tasks.map(\.adapter))
        for seed in [UInt64(0), 1, 2] {
            let result = try KMedoids.cluster(distances: sim.distanceMatrix, count: tasks.count, k: 5, seed: seed)
            #expect(Self.partition(result.assignment) == Self.partition(family))
            #expect(Set(result.medoids).count == 5)
            for (c, m) in result.medoids.enumerated() { #expect(result.assignment[m] == c) }
        }
    }

    @Test func pointsOnALineSplitAtTheGaps() throws {
        let xs: [Double] = [0, 0.1, 0.2, 5, 5.1, 9.9, 10, 10.2, 10.1]
        let d = xs.flatMap { x in xs.map { abs(x - $0) } }
        let result = try KMedoids.cluster(distances: d, count: xs.count, k: 3, seed: 11)
        #expect(Self.partition(result.assignment) == [[0, 1, 2], [3, 4], [5, 6, 7, 8]])
        #expect(abs(result.cost - 0.7) < 1e-9)
        #expect(abs(KMedoids.cost(medoids: result.medoids, distances: d, count: xs.count) - result.cost) < 1e-9)
    }

    @Test func sameSeedSameResult() throws {
        let (tasks, _) = SyntheticTasks.families(families: 4, perFamily: 5, noise: 1.5, seed: 5)
        let d = try TaskSimilarity.compute(names: tasks.map(\.name), adapters: tasks.map(\.adapter)).distanceMatrix
        let a = try KMedoids.cluster(distances: d, count: tasks.count, k: 6, seed: 42)
        let b = try KMedoids.cluster(distances: d, count: tasks.count, k: 6, seed: 42)
        #expect(a == b)
    }

    @Test func moreClustersThanPointsGivesSingletons() throws {
        let d: [Double] = [0, 1, 1, 0]
        let result = try KMedoids.cluster(distances: d, count: 2, k: 5)
        #expect(result.assignment == [0, 1])
        #expect(result.cost == 0)
    }

    @Test func identicalPointsStillGiveKNonEmptyClusters() throws {
        let d = [Double](repeating: 0, count: 16)
        let result = try KMedoids.cluster(distances: d, count: 4, k: 3)
        #expect(Set(result.assignment) == [0, 1, 2])
    }

    @Test func badInputIsAnError() {
        #expect(throws: ClusteringError.self) { try KMedoids.cluster(distances: [0], count: 1, k: 0) }
        #expect(throws: ClusteringError.self) { try KMedoids.cluster(distances: [0, 1, 1], count: 2, k: 1) }
        #expect(throws: ClusteringError.self) { try KMedoids.cluster(distances: [], count: 0, k: 1) }
        #expect(throws: ClusteringError.self) {
            try KMedoids.cluster(distances: [0, .nan, .nan, 0], count: 2, k: 1)
        }
    }
}
