import Testing
@testable import AdapterCore

@Suite struct ModuleUnionPaddingTests {
    /// Task 0 adapts q and v of 2 layers; task 1 only q (of the same shapes); task 2 v only of layer 1.
    static func mixedTasks() -> [TaskProfile] {
        let (tasks, _) = SyntheticTasks.families(families: 3, perFamily: 1, rank: 3, layers: 2, width: 8, seed: 5)
        let qOnly = SyntheticTasks.adapter(tasks[1].adapter.modules.filter { $0.name.hasSuffix("q_proj") }, rank: 3)
        let oneV = SyntheticTasks.adapter(tasks[2].adapter.modules.filter { $0.name == "model.layers.1.self_attn.v_proj" },
                                          rank: 3)
        return [tasks[0],
                TaskProfile(name: "q-only", version: 2, adapter: qOnly, examples: ["x"], examplesFile: "/e", ownBytes: 77),
                TaskProfile(name: "one-v", version: 1, adapter: oneV)]
    }

    @Test func padsEveryAdapterToTheUnionWithExactZeros() throws {
        let tasks = Self.mixedTasks()
        // Unpadded, the profile check refuses them.
        #expect(throws: ClusteringError.self) {
            try TaskSimilarity.compute(names: tasks.map(\.name), adapters: tasks.map(\.adapter))
        }
        let padded = try ModuleUnionPadding.pad(tasks)
        let union = tasks[0].adapter.modules.map(\.name)
        for (original, task) in zip(tasks, padded) {
            #expect(Set(task.adapter.modules.map(\.name)) == Set(union))
            // The original modules come first, unchanged; the added ones are zero updates of the right shape.
            #expect(Array(task.adapter.modules.prefix(original.adapter.modules.count)) == original.adapter.modules)
            for module in task.adapter.modules.dropFirst(original.adapter.modules.count) {
                let template = tasks[0].adapter.modules.first { $0.name == module.name }!
                #expect(module.inFeatures == template.inFeatures && module.outFeatures == template.outFeatures)
                #expect(module.a.elements.allSatisfy { $0 == 0 } && module.b.elements.allSatisfy { $0 == 0 })
                #expect(module.layer == template.layer && module.projection == template.projection)
            }
            // Numerically nothing changed: same norm, zero distance to the original.
            #expect(abs(FactoredUpdates.normSquared(task.adapter) - FactoredUpdates.normSquared(original.adapter)) < 1e-12)
            #expect(FactoredUpdates.distanceSquared(task.adapter, original.adapter) < 1e-12)
            #expect(task.adapter.tensorBytes == original.adapter.tensorBytes)
            #expect(task.name == original.name && task.version == original.version && task.ownBytes == original.ownBytes)
            #expect(task.examples == original.examples && task.examplesFile == original.examplesFile)
        }
        // Now they are one profile: similarity works and matches the inner products of the originals.
        let similarity = try TaskSimilarity.compute(names: padded.map(\.name), adapters: padded.map(\.adapter))
        let expected = FactoredUpdates.inner(tasks[0].adapter, tasks[1].adapter)
        #expect(abs(similarity.inner[1] - expected) < 1e-9 * max(1, abs(expected)))
        // A merge of a q-only and a v-only task has both.
        let merged = try SVDClusterMerger().merge([padded[1].adapter, padded[2].adapter], weights: [1, 1], rank: 3)
        let exact = try AdapterMerger.merge([tasks[1].adapter, tasks[2].adapter], weights: [1, 1], method: .svd(rank: 3))
        #expect(FactoredUpdates.distanceSquared(merged, exact) < 1e-12)
    }

    @Test func refusesDifferentBaseModelsAndShapes() throws {
        let tasks = Self.mixedTasks()
        let other = SyntheticTasks.adapter(tasks[1].adapter.modules, rank: 3, baseModel: "other/base")
        let error = #expect(throws: ClusteringError.self) {
            try ModuleUnionPadding.pad([tasks[0].adapter, other], names: ["a", "b"])
        }
        #expect(error?.code == .profileMismatch && error?.message.contains("other/base") == true)

        let (wide, _) = SyntheticTasks.families(families: 1, perFamily: 1, rank: 3, layers: 2, width: 10)
        let shapeError = #expect(throws: ClusteringError.self) {
            try ModuleUnionPadding.pad([tasks[0].adapter, wide[0].adapter], names: ["a", "wide"])
        }
        #expect(shapeError?.code == .profileMismatch && shapeError?.message.contains("wide") == true)
        #expect(throws: ClusteringError.self) { try ModuleUnionPadding.pad([tasks[0].adapter], names: []) }
        #expect(try ModuleUnionPadding.pad([], names: []).isEmpty)
    }

    @Test func sameModulesAreLeftAlone() throws {
        let (tasks, _) = SyntheticTasks.families(families: 2, perFamily: 2)
        let padded = try ModuleUnionPadding.pad(tasks)
        for (a, b) in zip(tasks, padded) { #expect(a.adapter.modules == b.adapter.modules) }
    }

    @Test func sumWeightingKeepsEveryMembersUpdate() {
        #expect(MergeWeighting.sum.weights(norms: [3, 0.5, 0]) == [1, 1, 1])
        #expect(MergeWeighting.sum.weights(norms: []).isEmpty)
        #expect(MergeWeighting(rawValue: "sum") == .sum)
    }
}
