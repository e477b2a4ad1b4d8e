import Foundation
import Testing
@testable import AdapterCore

/// The data-aware (RegMean-style) merge against its dense definition.
@Suite struct RegMeanMergeTests {
    typealias F = DataAwareFixtures

    static let out = 10

    /// n members of one map (10 × 16): random updates of rank 2–3 and sketch factors of their own
    /// inputs. With 2 tokens each the updates' and inputs' rows span less than the 16 input features
    /// (the merge works in that subspace), with 12 all of them.
    static func terms(_ n: Int, seed: UInt64, ridge: Double = 0.1, sharedInputs: Bool = false, tokens: Int = 12) throws -> [RegMeanMerge.Term] {
        var g = SeededGenerator(seed: seed)
        let shared = F.inputs(tokens: tokens, &g)
        return try (0..<n).map { i in
            let x = sharedInputs ? shared : F.inputs(tokens: tokens, &g, strong: 2 + i % 3)
            let sketch = try TaskInputSketcher.sketch([.init(modules: [F.q], rows: x)], tokens: tokens, sequences: 1,
                                                      options: .init(energyShare: 1))
            let space = sketch.spaces[0]
            let rank = 2 + i % 2
            let update = try LowRankUpdate(b: F.random(out, rank, &g), a: F.random(rank, F.width, &g), scale: 0.7)
            return RegMeanMerge.Term(update: update, inputs: space.scaledDirections,
                                     ridge: ridge * space.totalEnergy / Double(F.width), weight: 1 / Double(n))
        }
    }

    static func plus(_ a: Matrix, _ b: Matrix, _ s: Double = 1) -> Matrix {
        Matrix(rows: a.rows, cols: a.cols, elements: zip(a.elements, b.elements).map { $0 + s * $1 })
    }

    /// M = Σ ω(SᵀS + λI) and the right-hand side Σ ω ΔW (SᵀS + λI), dense.
    static func denseSystem(_ terms: [RegMeanMerge.Term]) -> (m: Matrix, rhs: Matrix) {
        var m = Matrix(zeros: F.width, F.width)
        var rhs = Matrix(zeros: out, F.width)
        for t in terms {
            var g = t.inputs.multiplied(by: t.inputs, transposeSelf: true)
            for i in 0..<F.width { g.elements[i * F.width + i] += t.ridge }
            m = plus(m, g, t.weight)
            if let u = t.update { rhs = plus(rhs, DenseReference.deltaW(u).multiplied(by: g), t.weight) }
        }
        return (m, rhs)
    }

    /// The inverse of a symmetric positive definite matrix through its SVD.
    static func inverse(_ m: Matrix) throws -> Matrix {
        let svd = try LAPACK.svd(m)
        var vs = svd.vt.transposed
        for i in 0..<vs.rows { for j in 0..<vs.cols { vs.elements[i * vs.cols + j] /= svd.singularValues[j] } }
        return vs.multiplied(by: svd.u, transposeOther: true)
    }

    static func maxRelative(_ a: Matrix, _ b: Matrix) -> Double {
        let scale = b.elements.map(abs).max() ?? 0
        return zip(a.elements, b.elements).map { abs($0 - $1) }.max()! / max(scale, 1e-300)
    }

    static func objective(_ w: Matrix, _ terms: [RegMeanMerge.Term]) -> Double {
        terms.reduce(0) { sum, t in
            let d = plus(w, t.update.map(DenseReference.deltaW) ?? Matrix(zeros: out, F.width), -1)
            return sum + t.weight * (d.multiplied(by: t.inputs, transposeOther: true).frobeniusNormSquared + t.ridge * d.frobeniusNormSquared)
        }
    }

    /// At full rank the factored merge is the dense least-squares solution ΔW* = R·M⁻¹, to 1e-9.
    @Test(arguments: [2, 12])
    func fullRankEqualsDenseLeastSquares(tokens: Int) throws {
        let terms = try Self.terms(3, seed: 31, tokens: tokens)
        let (m, rhs) = Self.denseSystem(terms)
        let dense = rhs.multiplied(by: try Self.inverse(m))
        let merged = try RegMeanMerge.mergeModule(terms, outFeatures: Self.out, inFeatures: F.width, rank: 8)
        #expect(Self.maxRelative(DenseReference.deltaW(merged), dense) < 1e-9)
        // It is the minimum: moving away in any direction costs.
        var g = SeededGenerator(seed: 32)
        let best = Self.objective(dense, terms)
        for _ in 0..<5 {
            let nudged = Self.plus(dense, F.random(Self.out, F.width, &g, scale: 1e-3))
            #expect(Self.objective(nudged, terms) > best)
        }
    }

    /// Truncated to rank r, it is the best rank-r update under the same objective: the dense truncated
    /// SVD of ΔW*·Rᵀ (M = RᵀR, Cholesky) mapped back by R⁻ᵀ, to 1e-8; and it beats the Frobenius
    /// (SVD-merge-style) truncation of ΔW* on the objective.
    @Test(arguments: [2, 12])
    func truncationIsOptimalUnderTheObjective(tokens: Int) throws {
        let terms = try Self.terms(3, seed: 33, tokens: tokens)
        let (m, rhs) = Self.denseSystem(terms)
        let star = rhs.multiplied(by: try Self.inverse(m))
        let r = try #require(try LAPACK.cholesky(m))  // RᵀR = M
        let target = star.multiplied(by: r, transposeOther: true)  // ΔW*·Rᵀ
        for rank in [1, 2, 4] {
            let truncated = DenseReference.deltaW(try DenseReference.truncatedSVD(target, rank: rank).update)
            let expected = truncated.multiplied(by: try Self.inverse(r.transposed))
            let merged = try RegMeanMerge.mergeModule(terms, outFeatures: Self.out, inFeatures: F.width, rank: rank)
            #expect(merged.rank == rank)
            #expect(Self.maxRelative(DenseReference.deltaW(merged), expected) < 1e-8, "rank \(rank)")
            let frobenius = DenseReference.deltaW(try DenseReference.truncatedSVD(star, rank: rank).update)
            #expect(Self.objective(DenseReference.deltaW(merged), terms) < Self.objective(frobenius, terms), "rank \(rank)")
        }
    }

    /// With the same inputs for every member it is the plain weighted mean (what the SVD merge
    /// truncates), for any ridge; a single member gets its own update back.
    @Test func equalInputsGiveThePlainAverage() throws {
        for ridge in [1e-3, 0.1, 10] {
            let terms = try Self.terms(4, seed: 34, ridge: ridge, sharedInputs: true)
            let mean = try DenseReference.weightedSum(terms.map { $0.update! }, weights: terms.map(\.weight))
            let merged = try RegMeanMerge.mergeModule(terms, outFeatures: Self.out, inFeatures: F.width, rank: 10)
            #expect(Self.maxRelative(DenseReference.deltaW(merged), mean) < 1e-9, "ridge \(ridge)")
        }
        let one = try Self.terms(1, seed: 35)
        let alone = try RegMeanMerge.mergeModule(one, outFeatures: Self.out, inFeatures: F.width, rank: 3)
        #expect(Self.maxRelative(DenseReference.deltaW(alone), DenseReference.deltaW(one[0].update!)) < 1e-9)
    }

    /// A member that does not adapt the map still asks for no change on its inputs; without a ridge
    /// and with inputs that do not span the updates the system is singular and refused.
    @Test func absentMembersAndSingularSystems() throws {
        var terms = try Self.terms(2, seed: 36)
        terms[1] = RegMeanMerge.Term(update: nil, inputs: terms[1].inputs, ridge: terms[1].ridge, weight: terms[1].weight)
        let (m, rhs) = Self.denseSystem(terms)
        let merged = try RegMeanMerge.mergeModule(terms, outFeatures: Self.out, inFeatures: F.width, rank: 8)
        #expect(Self.maxRelative(DenseReference.deltaW(merged), rhs.multiplied(by: try Self.inverse(m))) < 1e-9)

        let narrow = try Self.terms(2, seed: 37, ridge: 0, sharedInputs: true).map {
            RegMeanMerge.Term(update: $0.update, inputs: Matrix(rows: 1, cols: F.width, elements: Array($0.inputs.elements.prefix(F.width))),
                              ridge: 0, weight: $0.weight)
        }
        #expect(throws: LinearAlgebraError.self) {
            try RegMeanMerge.mergeModule(narrow, outFeatures: Self.out, inFeatures: F.width, rank: 2)
        }
    }

    /// Adapters: modules matched by name, every module at exactly the target rank, the result served
    /// better on the members' examples than the SVD merge at the same rank (relative weighting, small
    /// ridge: the objective is the members' mean data-aware loss); refusals name the problem.
    @Test func adapterMergeBeatsSVDOnTheDataAwareScore() throws {
        var g = SeededGenerator(seed: 38)
        var adapters: [LoRAAdapter] = []
        var sketches: [TaskInputSketch] = []
        for i in 0..<3 {
            adapters.append(F.adapter([F.module(F.q, rank: 3, &g), F.module(F.v, rank: 2, &g)]
                                      + (i == 0 ? [F.module(F.o, rank: 2, &g)] : [])))
            sketches.append(try F.sketch(F.inputs(tokens: 15, &g, strong: 2 + i), F.inputs(tokens: 15, &g),
                                         options: .init(energyShare: 0.999)))
        }
        let weights = [1.0 / 3, 1.0 / 3, 1.0 / 3]
        func meanScore(_ merged: LoRAAdapter) throws -> Double {
            try zip(adapters, sketches).reduce(0) { $0 + (try DataAwareScore.score(own: $1.0, candidate: merged, sketch: $1.1)) } / 3
        }
        for rank in [2, 4] {
            let svd = try AdapterMerger.merge(adapters, weights: weights, method: .svd(rank: rank))
            let regmean = try RegMeanMerge.merge(adapters, sketches: sketches, weights: weights, rank: rank,
                                                 options: .init(ridge: 1e-4, weighting: .relative))
            #expect(regmean.modules.map(\.name) == svd.modules.map(\.name))
            #expect(regmean.modules.allSatisfy { $0.rank == rank && $0.scale == 1 })
            #expect(regmean.tensorBytes == svd.tensorBytes)
            let (a, b) = (try meanScore(regmean), try meanScore(svd))
            #expect(a > b, "rank \(rank): regmean \(a) vs svd \(b)")
        }
        #expect(throws: MergeError.self) {
            try RegMeanMerge.merge(adapters, sketches: sketches, weights: [0.5, -0.1, 0.6], rank: 2)
        }
        #expect(throws: MergeError.self) {
            try RegMeanMerge.merge(adapters, sketches: Array(sketches.prefix(2)), weights: weights, rank: 2)
        }
        let partial = try TaskInputSketcher.sketch([.init(modules: [F.q, F.v], rows: F.inputs(tokens: 10, &g))], tokens: 10, sequences: 1)
        #expect { try RegMeanMerge.merge(adapters, sketches: [partial] + sketches.dropFirst(), weights: weights, rank: 2) } throws: { error in
            (error as? MergeError)?.code == .invalidParameter && "\(error)".contains(F.o)
        }
    }

    /// As a `ClusterMerging`: members recognised by their adapters' content; an adapter that is no
    /// task's own is refused; the choice between SVD and RegMean keeps the better mean score.
    @Test func clusterMergersFindTheirMembers() throws {
        var g = SeededGenerator(seed: 39)
        var tasks: [TaskProfile] = []
        var sketches: [String: TaskInputSketch] = [:]
        for i in 0..<3 {
            let adapter = F.adapter([F.module(F.q, rank: 3, &g), F.module(F.v, rank: 2, &g)])
            tasks.append(TaskProfile(name: "t\(i)", version: 1, adapter: adapter))
            sketches["t\(i)"] = try F.sketch(F.inputs(tokens: 15, &g, strong: 2 + i), F.inputs(tokens: 15, &g))
        }
        let options = RegMeanMerge.Options(ridge: 1e-4, weighting: .relative)
        let merger = try DataAwareClusterMerger(tasks: tasks, sketches: sketches, options: options)
        let adapters = tasks.map(\.adapter)
        let merged = try merger.merge(adapters, weights: [0.5, 0.5, 0], rank: 2)
        let direct = try RegMeanMerge.merge(adapters, sketches: tasks.map { sketches[$0.name]! }, weights: [0.5, 0.5, 0],
                                            rank: 2, options: options)
        #expect(merged.modules.map(\.a) == direct.modules.map(\.a))
        #expect { try merger.merge([adapters[0], F.adapter([F.module(F.q, rank: 1, &g)])], weights: [0.5, 0.5], rank: 2) } throws: { error in
            (error as? ClusteringError)?.code == .mergeFailed
        }
        let choice = try DataAwareMergeChoice(tasks: tasks, sketches: sketches, options: options)
        #expect(choice.mergers.map(\.name) == ["svd", "regmean"])
        let picked = try choice.choose(adapters, weights: [1.0 / 3, 1.0 / 3, 1.0 / 3], rank: 2)
        #expect(picked.meanScores.count == 2)
        #expect(picked.meanScores[picked.index] == picked.meanScores.max())
        #expect(picked.index == 1, "RegMean should serve these members better: \(picked.meanScores)")
    }
}
