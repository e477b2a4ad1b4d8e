import Testing
@testable import AdapterCore

@Suite struct TaskSimilarityTests {
    /// Cosine computed from dense ΔW, flattened over all modules.
    static func denseCosine(_ x: LoRAAdapter, _ y: LoRAAdapter) -> Double {
        var dot = 0.0, nx = 0.0, ny = 0.0
        for (mx, my) in zip(x.modules, y.modules) {
            let dx = SyntheticTasks.dense(mx).elements, dy = SyntheticTasks.dense(my).elements
            for k in dx.indices { dot += dx[k] * dy[k]; nx += dx[k] * dx[k]; ny += dy[k] * dy[k] }
        }
        return dot / (nx.squareRoot() * ny.squareRoot())
    }

    @Test func matchesDenseCosineWithMixedRanksScalesAndBlocks() throws {
        var g = SeededGenerator(seed: 7)
        let shapes = SyntheticTasks.shapes(layers: 2, width: 10)
        let adapters: [LoRAAdapter] = [1, 3, 2, 5, 4].enumerated().map { index, rank in
            let modules = shapes.map { s in
                SyntheticTasks.module(s, a: SyntheticTasks.gaussian(rank, s.inFeatures, scale: 1, &g),
                                      b: SyntheticTasks.gaussian(s.outFeatures, rank, scale: 1, &g),
                                      scale: 0.5 + Double(index))
            }
            return SyntheticTasks.adapter(modules, rank: rank)
        }
        let names = (0..<adapters.count).map { "t\($0)" }
        let oneBlock = try TaskSimilarity.compute(names: names, adapters: adapters)
        let blocked = try TaskSimilarity.compute(names: names, adapters: adapters, blockRank: 4)
        for i in adapters.indices {
            #expect(oneBlock.cosine(i, i) == 1)
            for j in adapters.indices where j != i {
                let expected = Self.denseCosine(adapters[i], adapters[j])
                #expect(abs(oneBlock.cosine(i, j) - expected) < 1e-10)
                #expect(abs(blocked.cosine(i, j) - expected) < 1e-10)
                #expect(oneBlock.cosine(i, j) == oneBlock.cosine(j, i))
                #expect(abs(oneBlock.distance(i, j) - (1 - expected)) < 1e-10)
            }
            let denseNorm = adapters[i].modules.reduce(0) { $0 + SyntheticTasks.dense($1).frobeniusNormSquared }
            #expect(abs(oneBlock.norm(i) - denseNorm.squareRoot()) < 1e-9 * denseNorm.squareRoot())
        }
    }

    @Test func refusesAdaptersOfAnotherBaseModel() throws {
        let (tasks, _) = SyntheticTasks.families(families: 2, perFamily: 1)
        let other = SyntheticTasks.adapter(tasks[1].adapter.modules, rank: 4, baseModel: "another/model")
        #expect {
            try TaskSimilarity.compute(names: ["a", "b"], adapters: [tasks[0].adapter, other])
        } throws: { error in
            (error as? ClusteringError)?.code == .profileMismatch
                && "\(error)".contains("another/model")
        }
    }

    @Test func refusesAdaptersWithOtherModuleShapes() throws {
        let (small, _) = SyntheticTasks.families(families: 1, perFamily: 1, width: 8)
        let (large, _) = SyntheticTasks.families(families: 1, perFamily: 1, width: 12)
        #expect {
            try TaskSimilarity.compute(names: ["a", "b"], adapters: [small[0].adapter, large[0].adapter])
        } throws: { error in
            (error as? ClusteringError)?.code == .profileMismatch && "\(error)".contains("8×8")
        }
    }

    @Test func refusesMismatchedOrDuplicateNames() throws {
        let (tasks, _) = SyntheticTasks.families(families: 2, perFamily: 1)
        #expect(throws: ClusteringError.self) {
            try TaskSimilarity.compute(names: ["a"], adapters: tasks.map(\.adapter))
        }
        #expect(throws: ClusteringError.self) {
            try TaskSimilarity.compute(names: ["a", "a"], adapters: tasks.map(\.adapter))
        }
    }
    @Test func addingOneTaskMatchesComputingAllAndKeepsTheOtherEntries() throws {
        var g = SeededGenerator(seed: 17)
        let shapes = SyntheticTasks.shapes(layers: 2, width: 12)
        let adapters: [LoRAAdapter] = [2, 3, 1, 4, 2].enumerated().map { index, rank in
            let modules = shapes.map { s in
                SyntheticTasks.module(s, a: SyntheticTasks.gaussian(rank, s.inFeatures, scale: 1, &g),
                                      b: SyntheticTasks.gaussian(s.outFeatures, rank, scale: 1, &g),
                                      scale: 0.25 + Double(index))
            }
            return SyntheticTasks.adapter(modules, rank: rank)
        }
        let names = adapters.indices.map { "t\($0)" }
        let all = try TaskSimilarity.compute(names: names, adapters: adapters)
        let head = try TaskSimilarity.compute(names: Array(names.dropLast()), adapters: Array(adapters.dropLast()))
        let grown = try head.adding(name: names[4], adapter: adapters[4], to: Array(adapters.dropLast()))
        #expect(grown.names == names)
        for i in 0..<4 { for j in 0..<4 { #expect(grown.inner[i * 5 + j] == head.inner[i * 4 + j]) } }
        for i in 0..<5 {
            #expect(abs(grown.inner[i * 5 + 4] - all.inner[i * 5 + 4]) <= 1e-12 * all.norm(i) * all.norm(4))
            #expect(grown.inner[i * 5 + 4] == grown.inner[4 * 5 + i])
            #expect(abs(grown.cosine(i, 4) - Self.denseCosine(adapters[i], adapters[4])) < 1e-10)
        }
        // Removing it again gives back the similarity it was added to.
        let shrunk = try grown.removing(name: names[4])
        #expect(shrunk == head)
        let middle = try all.removing(name: "t2")
        #expect(middle.names == ["t0", "t1", "t3", "t4"] && middle.inner[1 * 4 + 2] == all.inner[1 * 5 + 3])
        // A name already there, a missing name, the wrong adapters or another profile are refused.
        #expect(throws: ClusteringError.self) { try head.adding(name: "t0", adapter: adapters[4], to: Array(adapters.dropLast())) }
        #expect(throws: ClusteringError.self) { try head.adding(name: "t9", adapter: adapters[4], to: Array(adapters.prefix(2))) }
        #expect(throws: ClusteringError.self) { try head.removing(name: "t9") }
        let other = SyntheticTasks.adapter(adapters[4].modules, rank: 2, baseModel: "another/model")
        #expect { try head.adding(name: "t9", adapter: other, to: Array(adapters.dropLast())) } throws: { error in
            (error as? ClusteringError)?.code == .profileMismatch
        }
    }
}

