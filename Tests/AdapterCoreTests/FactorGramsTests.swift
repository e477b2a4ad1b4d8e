import Foundation
import Synchronization
import Testing
@testable import AdapterCore

/// Rank curves read from the tasks' cached Gram blocks (`FactorGrams`, `GramCore`, leading eigenpairs
/// of KKᵀ) against the curves of the formed SVD merge, including the stacks the Gram path declines.
@Suite struct FactorGramsTests {
    static func tasks(seed: UInt64 = 7) -> [TaskProfile] {
        SyntheticTasks.families(families: 3, perFamily: 3, rank: 4, layers: 2, width: 24, noise: 0.4, seed: seed,
                                scaleSpread: 0.5).tasks
    }

    /// The largest difference between two curves over every rank and member.
    static func difference(_ x: RankQualityCurve, _ y: RankQualityCurve) -> Double {
        #expect(x.members == y.members && x.maximumRank == y.maximumRank)
        return zip(x.quality, y.quality).flatMap { zip($0, $1).map { abs($0 - $1) } }.max() ?? .infinity
    }

    static func curves(_ members: [Int], _ tasks: [TaskProfile], weights: [Double], rank: Int,
                       grams: FactorGrams) throws -> (merged: RankQualityCurve, fromGrams: RankQualityCurve) {
        let adapters = members.map { tasks[$0].adapter }
        return (try RankQualityCurve.compute(members: members, adapters: adapters, weights: weights, maximumRank: rank),
                try RankQualityCurve.compute(members: members, adapters: adapters, weights: weights, maximumRank: rank,
                                             grams: grams))
    }

    @Test(arguments: [([0, 1, 2], 6), ([4, 0, 7, 2], 12), ([8, 3], 3), ([5], 2), ([0, 1, 2, 3, 4, 5, 6, 7, 8], 16)])
    func curvesFromGramsEqualTheMergedCurves(members: [Int], rank: Int) throws {
        let tasks = Self.tasks()
        let grams = try #require(FactorGrams(adapters: tasks.map(\.adapter)))
        for (index, weights) in [members.map { _ in 1 / Double(members.count) },
                                 members.indices.map { 0.1 + 0.2 * Double($0) }].enumerated() {
            let (merged, fromGrams) = try Self.curves(members, tasks, weights: weights, rank: rank, grams: grams)
            #expect(Self.difference(merged, fromGrams) < 1e-10)
            // Not a comparison of zeros: the uniform merge keeps part of every member's update.
            if index == 0 { #expect(merged.quality.last!.allSatisfy { $0 > 0.01 }) }
        }
        // The blocks are kept and read back: the same curve again.
        #expect(grams.keptBytes > 0)
        let again = try Self.curves(members, tasks, weights: members.map { _ in 1 }, rank: rank, grams: grams)
        #expect(Self.difference(again.merged, again.fromGrams) < 1e-10)
    }

    /// The merge a curve scored, written from the truncation factors of the eigenpairs the curve computed
    /// (what an install's placement does), is the SVD merge from the same Grams: the same ΔW per module,
    /// A' with orthonormal rows on the kept directions; a rank above the cores' size pads as the SVD
    /// merge does.
    @Test(arguments: [([0, 1, 2], 6, 6), ([4, 0, 7, 2], 12, 5), ([8, 3], 3, 3), ([5], 2, 2),
                      ([0, 1, 2, 3, 4, 5, 6, 7, 8], 16, 16), ([1, 6], 12, 12)])
    func mergesWrittenFromACurvesTruncationFactorsEqualTheSVDMerge(members: [Int], curveRank: Int, rank: Int) throws {
        let tasks = Self.tasks(seed: 23)
        let adapters = members.map { tasks[$0].adapter }
        let grams = try #require(FactorGrams(adapters: adapters))
        let weights = members.indices.map { 0.3 + 0.25 * Double($0) }
        let (curve, truncations) = try #require(try RankQualityCurve.computeKeepingTruncations(
            members: Array(members.indices), adapters: adapters, weights: weights, maximumRank: curveRank, grams: grams))
        #expect(curve == (try RankQualityCurve.compute(members: Array(members.indices), adapters: adapters,
                                                       weights: weights, maximumRank: curveRank, grams: grams)))
        // The Gram path (and so a core) exists where the stacked terms fit the modules' width (24).
        #expect(truncations.count == adapters[0].modules.count)
        #expect(truncations.allSatisfy { $0 != nil } == (members.count * 4 <= 24))
        #expect(truncations.allSatisfy { $0 == nil } == (members.count * 4 > 24))
        let merger = SVDClusterMerger()
        let written = try merger.merge(adapters, weights: weights, rank: rank, grams: grams,
                                       members: Array(members.indices), truncations: truncations)
        let factored = try merger.merge(adapters, weights: weights, rank: rank, grams: grams, members: Array(members.indices))
        #expect(written.modules.map(\.name) == factored.modules.map(\.name))
        // Written from the eigenpairs (not from a second SVD of the cores) wherever there are truncation
        // factors: the two computations round differently.
        #expect((written.modules.map(\.b) == factored.modules.map(\.b)) == truncations.allSatisfy { $0 == nil })
        for (x, y) in zip(written.modules, factored.modules) {
            #expect(x.rank == rank && y.rank == rank)
            let (dx, dy) = (DenseReference.deltaW(x.update), DenseReference.deltaW(y.update))
            #expect(dy.frobeniusNormSquared > 0)
            #expect(LowRankTesting.relativeDifference(dx, dy) < 1e-9)
            let aat = x.a.multiplied(by: x.a, transposeOther: true)
            let kept = min(rank, members.count * 4)
            for i in 0..<kept { #expect(abs(aat[i, i] - 1) < 1e-9) }
        }
    }

    /// Truncation factors computed at a lower rank than the merge asks for are not used: the merge is made
    /// from the Grams instead, and is the same.
    @Test func truncationsOfALowerRankAreNotUsed() throws {
        let tasks = Self.tasks(seed: 29)
        let adapters = [tasks[0].adapter, tasks[4].adapter, tasks[8].adapter]
        let grams = try #require(FactorGrams(adapters: adapters))
        let (_, truncations) = try #require(try RankQualityCurve.computeKeepingTruncations(
            members: [0, 1, 2], adapters: adapters, weights: [1, 1, 1], maximumRank: 2, grams: grams))
        #expect(truncations.allSatisfy { $0?.covers(rank: 2) == true && $0?.covers(rank: 5) == false })
        let merger = SVDClusterMerger()
        let written = try merger.merge(adapters, weights: [1, 1, 1], rank: 5, grams: grams, members: [0, 1, 2],
                                       truncations: truncations)
        let fromGrams = try merger.merge(adapters, weights: [1, 1, 1], rank: 5, grams: grams, members: [0, 1, 2])
        #expect(written.modules.map(\.b) == fromGrams.modules.map(\.b) && written.modules.map(\.a) == fromGrams.modules.map(\.a))
    }

    /// A similarity keeps every pair's blocks (with one Gram block per module, and with several:
    /// blockRank 9 puts two rank-4 tasks in each), and they are the blocks a curve would compute.
    @Test(arguments: [2048, 9])
    func blocksKeptByTheSimilarityAreTheCurvesBlocks(blockRank: Int) throws {
        let tasks = Self.tasks(seed: 17)
        let adapters = tasks.map(\.adapter)
        let seeded = try #require(FactorGrams(adapters: adapters))
        let similarity = try TaskSimilarity.compute(names: tasks.map(\.name), adapters: adapters, blockRank: blockRank,
                                                    keeping: seeded)
        #expect(similarity == (try TaskSimilarity.compute(names: tasks.map(\.name), adapters: adapters, blockRank: blockRank)))
        let modules = adapters[0].modules.count
        let pairs = tasks.count * (tasks.count + 1) / 2
        #expect(seeded.keptBytes == modules * pairs * 4 * 4 * 2 * MemoryLayout<Double>.stride)
        let computed = try #require(FactorGrams(adapters: adapters))
        for module in 0..<modules {
            for members in [Array(0..<tasks.count), [5, 2, 7], [8, 0]] {
                let (kept, made) = (seeded.grams(module: module, members: members), computed.grams(module: module, members: members))
                let scale = made.columns.elements.map(abs).max()! + made.rows.elements.map(abs).max()!
                #expect(LowRankTesting.maxAbsDifference(kept.columns, made.columns) <= 1e-13 * scale)
                #expect(LowRankTesting.maxAbsDifference(kept.rows, made.rows) <= 1e-13 * scale)
            }
        }
        // Read from the kept blocks, none computed again.
        #expect(seeded.keptBytes == modules * pairs * 4 * 4 * 2 * MemoryLayout<Double>.stride)
        let (merged, fromGrams) = try Self.curves([0, 3, 6, 7], tasks, weights: [0.25, 0.25, 0.25, 0.25], rank: 6, grams: seeded)
        #expect(Self.difference(merged, fromGrams) < 1e-10)
    }

    @Test func blocksKeptForOneSetServeItsSubsetsAndOverlaps() throws {
        let tasks = Self.tasks(seed: 11)
        let grams = try #require(FactorGrams(adapters: tasks.map(\.adapter)))
        _ = try Self.curves([0, 1, 2, 3, 4, 5], tasks, weights: [Double](repeating: 1, count: 6), rank: 8, grams: grams)
        let kept = grams.keptBytes
        // Subsets, in another order: every block is there already.
        for members in [[5, 1, 3], [2, 0], [4, 3, 2, 1]] {
            let (merged, fromGrams) = try Self.curves(members, tasks, weights: members.map { _ in 0.5 }, rank: 5, grams: grams)
            #expect(Self.difference(merged, fromGrams) < 1e-10)
        }
        #expect(grams.keptBytes == kept)
        // A set with new tasks adds their blocks.
        let (merged, fromGrams) = try Self.curves([6, 1, 8], tasks, weights: [1, 1, 1], rank: 5, grams: grams)
        #expect(Self.difference(merged, fromGrams) < 1e-10)
        #expect(grams.keptBytes > kept)
    }

    @Test func nothingKeptPastTheByteLimitAndTheCurvesAreTheSame() throws {
        let tasks = Self.tasks(seed: 3)
        let grams = try #require(FactorGrams(adapters: tasks.map(\.adapter), byteLimit: 0))
        let (merged, fromGrams) = try Self.curves([0, 3, 6], tasks, weights: [1, 2, 3], rank: 6, grams: grams)
        #expect(Self.difference(merged, fromGrams) < 1e-10)
        #expect(grams.keptBytes == 0)
    }

    /// Identical adapters (a singular Gram: Householder QR for every module), a task whose modules are
    /// zero (padding), and a zero weight (the merge itself) give the merged curve too.
    @Test func degenerateStacksFallBackAndMatch() throws {
        var tasks = Self.tasks(seed: 5)
        tasks.append(TaskProfile(name: "copy", version: 1, adapter: tasks[0].adapter))
        let zero = tasks[1].adapter.modules.map {
            LoRAModule(name: $0.name, layer: $0.layer, projection: $0.projection, a: Matrix(zeros: $0.rank, $0.inFeatures),
                       b: Matrix(zeros: $0.outFeatures, $0.rank), scale: $0.scale)
        }
        tasks.append(TaskProfile(name: "zero", version: 1, adapter: SyntheticTasks.adapter(zero, rank: 4)))
        let grams = try #require(FactorGrams(adapters: tasks.map(\.adapter)))
        for (members, weights) in [([0, 9], [0.5, 0.5]), ([0, 9, 2], [1.0, 1, 1]), ([10, 2, 3], [1.0, 1, 1]),
                                   ([2, 3, 4], [1.0, 0, 1])] {
            let (merged, fromGrams) = try Self.curves(members, tasks, weights: weights, rank: 8, grams: grams)
            #expect(Self.difference(merged, fromGrams) < 1e-10, "members \(members)")
        }
    }

    /// The SVD merge that reads its Grams from the kept blocks equals the one that computes them, on
    /// well-conditioned sets in any order and on the degenerate stacks (Householder QR per module).
    @Test func mergesFromKeptGramsEqualTheMerges() throws {
        var tasks = Self.tasks(seed: 13)
        tasks.append(TaskProfile(name: "copy", version: 1, adapter: tasks[0].adapter))
        let grams = try #require(FactorGrams(adapters: tasks.map(\.adapter)))
        _ = try Self.curves([0, 1, 2, 3, 4, 5, 6, 7, 8], tasks, weights: [Double](repeating: 1, count: 9), rank: 8,
                            grams: grams)
        let merger = SVDClusterMerger()
        for (members, weights, rank) in [([0, 1, 2], [1.0, 1, 1], 6), ([7, 2, 4, 0], [0.1, 0.3, 0.5, 0.7], 12),
                                         ([5], [1.0], 2), ([0, 9, 3], [1.0, 1, 1], 8)] {
            let adapters = members.map { tasks[$0].adapter }
            let computed = try merger.merge(adapters, weights: weights, rank: rank)
            let fromGrams = try merger.merge(adapters, weights: weights, rank: rank, grams: grams, members: members)
            #expect(fromGrams.modules.map(\.name) == computed.modules.map(\.name))
            #expect(fromGrams.tensorBytes == computed.tensorBytes)
            for (x, y) in zip(fromGrams.modules, computed.modules) {
                let dx = DenseReference.deltaW(x.update), dy = DenseReference.deltaW(y.update)
                let error = zip(dx.elements, dy.elements).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
                let size = dy.elements.map { $0 * $0 }.reduce(0, +).squareRoot()
                #expect(error <= 1e-10 * max(size, 1e-300), "members \(members), module \(x.name)")
                #expect(size > 0)
            }
        }
    }

    @Test func tasksWithDifferentModulesHaveNoGrams() {
        let tasks = Self.tasks()
        let fewer = SyntheticTasks.adapter(Array(tasks[1].adapter.modules.dropLast()), rank: 4)
        #expect(FactorGrams(adapters: [tasks[0].adapter, fewer]) == nil)
        #expect(FactorGrams(adapters: []) == nil)
    }

    /// Repeated and zero eigenvalues (the KKᵀ of a rank-deficient core), the whole spectrum and the
    /// smallest sizes: every pair returned satisfies g·v = λ·v, the vectors are orthonormal, and the
    /// values are the largest, descending.
    @Test(arguments: [(24, 6, 4), (24, 24, 24), (40, 3, 12), (1, 1, 1), (2, 2, 1), (60, 10, 16)])
    func leadingEigenpairsOfDegenerateSpectra(n: Int, rank: Int, count: Int) throws {
        var rng = SeededGenerator(seed: UInt64(n * 31 + rank))
        let q = try LAPACK.thinQR(LowRankTesting.random(n, n, &rng)).q
        // Eigenvalues 1, 1, 1, 1/4, 1/4, 1/4, 1/16, … (each three times), zero past `rank`.
        let spectrum = (0..<n).map { $0 < rank ? pow(4, -Double($0 / 3)) : 0 }
        var g = Matrix(zeros: n, n)
        for i in 0..<n { for j in 0..<n { for l in 0..<n { g[i, j] += q[i, l] * spectrum[l] * q[j, l] } } }
        for i in 0..<n { for j in 0..<i { g[i, j] = g[j, i] } }   // exactly symmetric
        let (values, vectors) = try LAPACK.leadingEigenpairs(ofSymmetric: g, count: count)
        let k = min(count, n)
        #expect(values.count == k && vectors.cols == k)
        let expected = spectrum.sorted(by: >)
        for j in 0..<k {
            #expect(abs(values[j] - expected[j]) <= 1e-12 * 4, "value \(j)")
            var residual = 0.0
            for i in 0..<n {
                var gv = 0.0
                for l in 0..<n { gv += g[i, l] * vectors[l, j] }
                residual = max(residual, abs(gv - values[j] * vectors[i, j]))
            }
            #expect(residual <= 1e-12 * 4, "residual of pair \(j)")
            for other in 0...j {
                var dot = 0.0
                for i in 0..<n { dot += vectors[i, j] * vectors[i, other] }
                #expect(abs(dot - (other == j ? 1 : 0)) < 1e-12, "vectors \(j), \(other)")
            }
        }
    }

    @Test func leadingEigenpairsAreTheTopOfTheSpectrum() throws {
        var rng = SeededGenerator(seed: 2)
        let m = LowRankTesting.random(30, 30, &rng)
        let g = m.multiplied(by: m, transposeOther: true)
        let svd = try LAPACK.svd(m)
        let (values, vectors) = try LAPACK.leadingEigenpairs(ofSymmetric: g, count: 5)
        #expect(values.count == 5 && vectors.rows == 30 && vectors.cols == 5)
        for j in 0..<5 {
            let sigma = svd.singularValues[j]
            #expect(abs(values[j] - sigma * sigma) <= 1e-12 * svd.singularValues[0] * svd.singularValues[0])
            // The same direction up to sign.
            var dot = 0.0
            for i in 0..<30 { dot += vectors.elements[i * 5 + j] * svd.u.elements[i * svd.u.cols + j] }
            #expect(abs(abs(dot) - 1) < 1e-9)
        }
        #expect(try LAPACK.leadingEigenpairs(ofSymmetric: g, count: 0).values.isEmpty)
        #expect(try LAPACK.leadingEigenpairs(ofSymmetric: g, count: 99).values.count == 30)
    }

    /// The refiner scoring merges from their curves moves the same tasks to the same clusters, with
    /// the same qualities, as the refiner that forms every merge and asks the evaluator.
    @Test func refinementFromCurvesEqualsRefinementFromMerges() async throws {
        let (tasks, _) = SyntheticTasks.families(families: 3, perFamily: 4, rank: 4, layers: 2, width: 24, noise: 0.9, seed: 21)
        var book = RankAllocatingPlanner.CurveBook()
        let similarity = try TaskSimilarity.compute(names: tasks.map(\.name), adapters: tasks.map(\.adapter))
        let scores = try #require(RankAllocatingPlanner.curveScoring(
            tasks, evaluator: WeightSpaceEvaluator(), merger: SVDClusterMerger(), similarity: similarity, book: &book)).scores
        let options = ClusterRefiner.Options(maxRounds: 4, candidateClusters: 3, candidateMerge: .withTask)
        // A start that mixes the families, so that tasks move.
        let start = tasks.indices.map { $0 % 3 == 0 ? 0 : ($0 % 2 == 0 ? 1 : 2) }
        let merged = try await ClusterRefiner().refine(tasks: tasks, clusterCount: 3, mergedRank: 4, options: options,
                                                       initialAssignment: start)
        let curves = try await ClusterRefiner(mergeScores: scores).refine(
            tasks: tasks, clusterCount: 3, mergedRank: 4, options: options, initialAssignment: start, mergingResult: false)
        #expect(merged.rounds > 0)
        #expect(curves.assignment == merged.assignment && curves.rounds == merged.rounds)
        for (x, y) in zip(curves.quality, merged.quality) { #expect(abs(x - y) < 1e-10) }
        for (x, y) in zip(curves.roundMeanQuality, merged.roundMeanQuality) { #expect(abs(x - y) < 1e-10) }
        #expect(curves.adapters.isEmpty && merged.adapters.count == 3)
        #expect(curves.evaluations < merged.evaluations)
        // Another evaluator or merger: no curve scores.
        #expect(RankAllocatingPlanner.curveScoring(tasks, evaluator: WeightSpaceEvaluator(), merger: ConcatenatingMerger(),
                                                   similarity: similarity, book: &book) == nil)
    }

    /// The bound of a task's quality in a join is never below the quality its curve gives, for every
    /// weighting, rank and join; across families, for averaging weightings, it is mostly below the task's
    /// quality in its own family's cluster, which is what lets the refinement skip those joins.
    @Test(arguments: MergeWeighting.allCases)
    func joinBoundIsAboveTheJoinsQuality(weighting: MergeWeighting) throws {
        let (tasks, families) = SyntheticTasks.families(families: 3, perFamily: 4, rank: 4, layers: 2, width: 24, noise: 0.3, seed: 29)
        let grams = try #require(FactorGrams(adapters: tasks.map(\.adapter)))
        let similarity = try TaskSimilarity.compute(names: tasks.map(\.name), adapters: tasks.map(\.adapter))
        let norms = tasks.map { FactoredUpdates.normSquared($0.adapter).squareRoot() }
        func curve(_ members: [Int], _ rank: Int) throws -> (RankQualityCurve, [Double]) {
            let weights = weighting.weights(norms: members.map { norms[$0] })
            return (try RankQualityCurve.compute(members: members, adapters: members.map { tasks[$0].adapter }, weights: weights,
                                                 maximumRank: rank, grams: grams), weights)
        }
        var pruned = 0, joins = 0
        for rank in [1, 3, 6] {
            for family in 0..<3 {
                let cluster = tasks.indices.filter { families[$0] == family }.sorted()
                let (own, otherWeights) = try curve(cluster, rank)
                #expect(own.totalEnergy != nil && own.energies.count == rank)
                for task in tasks.indices where families[task] != family || task == cluster.last {
                    let others = cluster.filter { $0 != task }
                    let (othersCurve, othersWeights) = task == cluster.last ? try curve(others, rank) : (own, otherWeights)
                    let members = (others + [task]).sorted()
                    let (joined, weights) = try curve(members, rank)
                    let actual = joined.quality(rank: rank)[members.firstIndex(of: task)!]
                    let bound = try #require(JoinQualityBound.upperBound(
                        task: task, members: members, weights: weights, rank: rank, others: others,
                        otherWeights: othersWeights, othersCurve: othersCurve,
                        inner: { similarity.inner[$0 * similarity.count + $1] }))
                    #expect(bound >= actual, "task \(task) joining family \(family) at rank \(rank)")
                    if families[task] != family {
                        joins += 1
                        let home = tasks.indices.filter { families[$0] == families[task] }.sorted()
                        let (homeCurve, _) = try curve(home, rank)
                        if bound <= homeCurve.quality(rank: rank)[home.firstIndex(of: task)!] { pruned += 1 }
                    }
                }
            }
        }
        // Summed (not averaged) updates keep a joining task's whole update: nothing to bound away there.
        if weighting != .sum {
            #expect(pruned > joins / 2, "\(pruned) of \(joins) joins across families bounded below the home cluster")
        }
    }

    /// With the bound, the refinement skips joins that could not move their task and ends where the one
    /// that scores every join ends: the same assignment, rounds and qualities, with fewer curves made.
    @Test func refinementWithTheBoundEqualsRefinementWithout() async throws {
        let (tasks, _) = SyntheticTasks.families(families: 3, perFamily: 4, rank: 4, layers: 2, width: 24, noise: 0.3, seed: 31)
        var book = RankAllocatingPlanner.CurveBook()
        let similarity = try TaskSimilarity.compute(names: tasks.map(\.name), adapters: tasks.map(\.adapter))
        let scoring = try #require(RankAllocatingPlanner.curveScoring(
            tasks, evaluator: WeightSpaceEvaluator(), merger: SVDClusterMerger(), similarity: similarity, book: &book))
        let calls = Mutex(0)
        let counted: ClusterRefiner.MergeScores = { members, weights, rank in
            calls.withLock { $0 += 1 }
            return try scoring.scores(members, weights, rank)
        }
        let options = ClusterRefiner.Options(maxRounds: 4, candidateClusters: 3, candidateMerge: .withTask)
        let start = tasks.indices.map { $0 % 3 == 0 ? 0 : ($0 % 2 == 0 ? 1 : 2) }
        let every = try await ClusterRefiner(mergeScores: counted).refine(
            tasks: tasks, clusterCount: 3, mergedRank: 4, options: options, initialAssignment: start, mergingResult: false)
        let everyCalls = calls.withLock { $0 }
        calls.withLock { $0 = 0 }
        let bounded = try await ClusterRefiner(mergeScores: counted, scoreBound: scoring.bound).refine(
            tasks: tasks, clusterCount: 3, mergedRank: 4, options: options, initialAssignment: start, mergingResult: false)
        let boundedCalls = calls.withLock { $0 }
        #expect(every.rounds > 0)
        #expect(bounded.assignment == every.assignment && bounded.rounds == every.rounds)
        #expect(bounded.quality == every.quality && bounded.roundMeanQuality == every.roundMeanQuality)
        #expect(boundedCalls < everyCalls, "\(boundedCalls) curves with the bound, \(everyCalls) without")
    }
}
