import Testing
@testable import AdapterCore

@Suite struct MergeTests {
    func adapter(_ modules: [LoRAModule], base: String = "base", architecture: ArchitectureFamily = .llama) -> LoRAAdapter {
        LoRAAdapter(
            config: PEFTConfig(baseModelNameOrPath: base, r: modules.first?.rank ?? 1, loraAlpha: 8,
                               targetModules: ["q_proj", "v_proj"]),
            modules: modules, architecture: architecture, storageDType: .f32, tensorBytes: 0)
    }

    func randomModule(_ name: String, _ projection: Projection?, out: Int, inn: Int, rank: Int, scale: Double,
                      _ rng: inout SeededGenerator) -> LoRAModule {
        LoRAModule(name: name, layer: 0, projection: projection, a: LowRankTesting.random(rank, inn, &rng),
                   b: LowRankTesting.random(out, rank, &rng), scale: scale)
    }

    func randomAdapters(count: Int, rank: Int, seed: UInt64) -> [LoRAAdapter] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { i in
            adapter([
                randomModule("layers.0.q_proj", .q, out: 12, inn: 10, rank: rank, scale: Double(i + 1), &rng),
                randomModule("layers.0.v_proj", .v, out: 6, inn: 10, rank: rank, scale: 0.5, &rng),
            ])
        }
    }

    func moduleDelta(_ a: LoRAAdapter, _ name: String) throws -> Matrix {
        DenseReference.deltaW(try #require(a.modules.first { $0.name == name }).update)
    }

    @Test func svdMergeIsTheDenseTruncatedSVDOfTheWeightedSum() throws {
        let adapters = randomAdapters(count: 3, rank: 3, seed: 1)
        let weights = [0.5, 1.0, -0.7]
        let merged = try AdapterMerger.merge(adapters, weights: weights, method: .svd(rank: 4))
        #expect(merged.config.r == 4 && merged.config.loraAlpha == 4 && !merged.config.useRSLoRA)
        #expect(merged.config.baseModelNameOrPath == "base")
        for name in ["layers.0.q_proj", "layers.0.v_proj"] {
            let updates = adapters.compactMap { $0.modules.first { $0.name == name }?.update }
            let dense = try DenseReference.truncatedSVD(try DenseReference.weightedSum(updates, weights: weights), rank: 4)
            let got = try moduleDelta(merged, name)
            #expect(LowRankTesting.relativeDifference(got, DenseReference.deltaW(dense.update)) < 1e-9)
            let module = try #require(merged.modules.first { $0.name == name })
            #expect(module.scale == 1 && module.rank == 4)
        }
        #expect(merged.tensorBytes == 4 * (10 + 12) * 2 + 4 * (10 + 6) * 2)
    }

    @Test func catMergeIsExactWithSummedRank() throws {
        let adapters = randomAdapters(count: 3, rank: 2, seed: 2)
        let weights = [1.0, -0.25, 2.0]
        let merged = try AdapterMerger.merge(adapters, weights: weights, method: .cat)
        #expect(merged.config.r == 6)
        for name in ["layers.0.q_proj", "layers.0.v_proj"] {
            let updates = adapters.compactMap { $0.modules.first { $0.name == name }?.update }
            let exact = try DenseReference.weightedSum(updates, weights: weights)
            #expect(LowRankTesting.relativeDifference(try moduleDelta(merged, name), exact) < 1e-13)
        }
    }

    @Test func modulesMissingFromSomeAdaptersCountAsZero() throws {
        var rng = SeededGenerator(seed: 3)
        let shared = randomModule("layers.0.q_proj", .q, out: 8, inn: 8, rank: 2, scale: 1, &rng)
        let onlyFirst = randomModule("layers.0.o_proj", .o, out: 8, inn: 8, rank: 2, scale: 3, &rng)
        let other = randomModule("layers.0.q_proj", .q, out: 8, inn: 8, rank: 2, scale: 1, &rng)
        let adapters = [adapter([shared, onlyFirst]), adapter([other])]
        for method in [MergeMethod.svd(rank: 4), .cat, .ties(density: 1, rank: 4), .dare(dropProbability: 0, rank: 4, seed: 1)] {
            let merged = try AdapterMerger.merge(adapters, weights: [0.5, 2], method: method)
            #expect(merged.modules.count == 2)
            let o = try moduleDelta(merged, "layers.0.o_proj")
            #expect(LowRankTesting.relativeDifference(o, DenseReference.deltaW(onlyFirst.update.scaled(by: 0.5))) < 1e-12)
        }
    }

    @Test func refusesDifferentBaseModelsShapesAndBadParameters() throws {
        var rng = SeededGenerator(seed: 4)
        let a = adapter([randomModule("layers.0.q_proj", .q, out: 8, inn: 8, rank: 2, scale: 1, &rng)])
        let otherBase = adapter([randomModule("layers.0.q_proj", .q, out: 8, inn: 8, rank: 2, scale: 1, &rng)], base: "other")
        let otherShape = adapter([randomModule("layers.0.q_proj", .q, out: 4, inn: 8, rank: 2, scale: 1, &rng)])
        func code(_ body: () throws -> LoRAAdapter) -> MergeError.Code? {
            do { _ = try body(); return nil } catch let e as MergeError { return e.code } catch { return nil }
        }
        #expect(code { try AdapterMerger.merge([a, otherBase], weights: [1, 1], method: .cat) } == .baseModelMismatch)
        #expect(code { try AdapterMerger.merge([a, adapter(a.modules, architecture: .bert)], weights: [1, 1], method: .cat) } == .baseModelMismatch)
        #expect(code { try AdapterMerger.merge([a, otherShape], weights: [1, 1], method: .svd(rank: 2)) } == .shapeMismatch)
        #expect(code { try AdapterMerger.merge([], weights: [], method: .cat) } == .noAdapters)
        #expect(code { try AdapterMerger.merge([a], weights: [1, 2], method: .cat) } == .invalidWeights)
        #expect(code { try AdapterMerger.merge([a], weights: [.infinity], method: .cat) } == .invalidWeights)
        #expect(code { try AdapterMerger.merge([a], weights: [1], method: .svd(rank: 0)) } == .invalidParameter)
        #expect(code { try AdapterMerger.merge([a], weights: [1], method: .ties(density: 1.5, rank: 2)) } == .invalidParameter)
        #expect(code { try AdapterMerger.merge([a], weights: [1], method: .dare(dropProbability: 1, rank: 2, seed: 0)) } == .invalidParameter)
        do {
            _ = try AdapterMerger.merge([a, otherShape], weights: [1, 1], method: .cat)
        } catch let e as MergeError {
            #expect(e.description.contains("layers.0.q_proj") && e.description.contains("8→8"))
        }
    }

    /// A rank-2 module with B = I so that ΔW = scale · A is chosen entry by entry.
    func explicitModule(_ delta: [Double]) -> LoRAModule {
        LoRAModule(name: "m", layer: 0, projection: .q, a: Matrix(rows: 2, cols: 2, elements: delta),
                   b: Matrix.identity(2), scale: 1)
    }

    @Test func tiesFollowsTrimElectDisjointMean() throws {
        // t1 trimmed to 50 %: [[0, −2], [3, 0]]; t2: [[2, 0], [−1.5, 0]]; elected signs [+, −, +, +];
        // weights 1 and 0.5 → [[0.5·2, −2], [3, 0]].
        let adapters = [adapter([explicitModule([1, -2, 3, 0.5])]), adapter([explicitModule([2, 1, -1.5, 0.25])])]
        let merged = try AdapterMerger.merge(adapters, weights: [1, 0.5], method: .ties(density: 0.5, rank: 2))
        let delta = try moduleDelta(merged, "m")
        #expect(LowRankTesting.maxAbsDifference(delta, Matrix(rows: 2, cols: 2, elements: [1, -2, 3, 0])) < 1e-12)
    }

    @Test func majoritySignByTotalOrByFrequency() {
        // One large positive entry against two small negative ones.
        let tensors = [5.0, -1, -1].map { Matrix(rows: 1, cols: 1, elements: [$0]) }
        let byTotal = ElementwiseMerge.ties(tensors, weights: [1, 1, 1], density: 1, majoritySign: .total)
        let byFrequency = ElementwiseMerge.ties(tensors, weights: [1, 1, 1], density: 1, majoritySign: .frequency)
        #expect(byTotal.elements == [5])
        #expect(byFrequency.elements == [-1])
    }

    @Test func trimKeepsExactlyTheRequestedCountWithTies() {
        let m = Matrix(rows: 2, cols: 3, elements: [1, -1, 1, 0.5, 1, 2])
        // ⌊0.5 · 6⌋ = 3: 2 and the first two of the four ±1s.
        #expect(ElementwiseMerge.trimmed(m, density: 0.5).elements == [1, -1, 0, 0, 0, 2])
        #expect(ElementwiseMerge.trimmed(m, density: 0).elements.allSatisfy { $0 == 0 })
        #expect(ElementwiseMerge.trimmed(m, density: 1) == m)
        var rng = SeededGenerator(seed: 8)
        let values = (0..<1001).map { _ in Double(Int(rng.nextUnitDouble() * 50)) }
        let sorted = values.sorted(by: >)
        for k in [1, 2, 17, 500, 1000, 1001] { #expect(ElementwiseMerge.kthLargest(values, k) == sorted[k - 1]) }
    }

    @Test func dareDropsWithTheGivenProbabilityAndRescales() {
        let ones = Matrix(rows: 100, cols: 100, elements: [Double](repeating: 1, count: 10_000))
        let dropped = ElementwiseMerge.dare([ones], weights: [1], dropProbability: 0.3, seeds: [42])
        let survivors = dropped.elements.filter { $0 != 0 }
        #expect(survivors.allSatisfy { abs($0 - 1 / 0.7) < 1e-12 })
        #expect(abs(Double(survivors.count) / 10_000 - 0.7) < 0.03)
        #expect(ElementwiseMerge.dare([ones], weights: [1], dropProbability: 0.3, seeds: [42]) == dropped)
        #expect(ElementwiseMerge.dare([ones], weights: [1], dropProbability: 0.3, seeds: [43]) != dropped)
        #expect(ElementwiseMerge.dare([ones, ones], weights: [2, -1], dropProbability: 0, seeds: [1, 2]) == ones)
    }

    @Test func dareMergeIsReproducibleAndUnbiasedAtZeroDrop() throws {
        let adapters = randomAdapters(count: 2, rank: 3, seed: 5)
        let one = try AdapterMerger.merge(adapters, weights: [1, 1], method: .dare(dropProbability: 0.5, rank: 6, seed: 9))
        let two = try AdapterMerger.merge(adapters, weights: [1, 1], method: .dare(dropProbability: 0.5, rank: 6, seed: 9))
        #expect(one.modules == two.modules)
        let exact = try AdapterMerger.merge(adapters, weights: [1, 1], method: .dare(dropProbability: 0, rank: 6, seed: 9))
        let cat = try AdapterMerger.merge(adapters, weights: [1, 1], method: .cat)
        #expect(LowRankTesting.relativeDifference(try moduleDelta(exact, "layers.0.q_proj"), try moduleDelta(cat, "layers.0.q_proj")) < 1e-12)
    }

    @Test func fusedPartsMergeAsOneModuleAndStillShareA() throws {
        var rng = SeededGenerator(seed: 6)
        func fused(_ scale: Double) -> [LoRAModule] {
            let a = LowRankTesting.random(2, 8, &rng)
            return ["q", "k", "v"].enumerated().map { i, p in
                LoRAModule(name: "h.0.attn.c_attn#\(p)", layer: 0, projection: Projection(rawValue: p),
                           a: a, b: LowRankTesting.random(8, 2, &rng), scale: scale)
            }
        }
        let adapters = [adapter(fused(1), architecture: .gpt2), adapter(fused(2), architecture: .gpt2)]
        let merged = try AdapterMerger.merge(adapters, weights: [1, 1], method: .svd(rank: 2))
        #expect(merged.modules.map(\.name) == ["h.0.attn.c_attn#q", "h.0.attn.c_attn#k", "h.0.attn.c_attn#v"])
        #expect(merged.modules[0].a == merged.modules[1].a && merged.modules[1].a == merged.modules[2].a)
        // Matches the truncated SVD of the fused 24×8 sum (not of each part separately).
        func stacked(_ modules: [LoRAModule]) -> LowRankUpdate {
            var b = Matrix(zeros: 24, 2)
            for (p, m) in modules.enumerated() { for i in 0..<8 { for j in 0..<2 { b[p * 8 + i, j] = m.b[i, j] } } }
            return LowRankUpdate(unchecked: b, modules[0].a, modules[0].scale)
        }
        let dense = try DenseReference.truncatedSVD(
            try DenseReference.weightedSum(adapters.map { stacked($0.modules) }, weights: [1, 1]), rank: 2)
        #expect(LowRankTesting.relativeDifference(DenseReference.deltaW(stacked(merged.modules)), DenseReference.deltaW(dense.update)) < 1e-9)
        #expect(merged.tensorBytes == (2 * 8 + 24 * 2) * 2)
    }
}
