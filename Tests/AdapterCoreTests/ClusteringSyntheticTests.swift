import Testing
@testable import AdapterCore

/// Synthetic tasks for the clustering tests: families of tasks built as perturbations of a few
/// prototypes in factored form, so that tasks of one family have similar updates.
enum SyntheticTasks {
    struct Shape {
        let name: String
        let inFeatures: Int
        let outFeatures: Int
    }

    static func shapes(layers: Int, width: Int) -> [Shape] {
        (0..<layers).flatMap { layer in
            ["q_proj", "v_proj"].map { Shape(name: "model.layers.\(layer).self_attn.\($0)", inFeatures: width, outFeatures: width) }
        }
    }

    static func gaussian(_ rows: Int, _ cols: Int, scale: Double, _ g: inout SeededGenerator) -> Matrix {
        Matrix(rows: rows, cols: cols, elements: (0..<(rows * cols)).map { _ in g.nextGaussian() * scale })
    }

    static func adapter(_ modules: [LoRAModule], rank: Int, baseModel: String = "synthetic/base") -> LoRAAdapter {
        let elements = modules.reduce(0) { $0 + $1.a.elements.count + $1.b.elements.count }
        return LoRAAdapter(
            config: PEFTConfig(baseModelNameOrPath: baseModel, r: rank, loraAlpha: Double(rank),
                               targetModules: ["q_proj", "v_proj"]),
            modules: modules, architecture: .llama, storageDType: .f16, tensorBytes: elements * 2)
    }

    static func module(_ shape: Shape, a: Matrix, b: Matrix, scale: Double = 1) -> LoRAModule {
        let parts = shape.name.split(separator: ".")
        let layer = parts.count > 2 ? Int(parts[2]) : nil
        let projection: Projection? = shape.name.hasSuffix("q_proj") ? .q : shape.name.hasSuffix("v_proj") ? .v : nil
        return LoRAModule(name: shape.name, layer: layer, projection: projection, a: a, b: b, scale: scale)
    }

    /// `families` prototypes, `perFamily` tasks each: A = A_f + noise·N, B = B_f + noise·N.
    /// Returns tasks named "f<family>-t<index>" and each task's family.
    static func families(
        families: Int, perFamily: Int, rank: Int = 4, layers: Int = 2, width: Int = 24, noise: Double = 0.3,
        seed: UInt64 = 1, scaleSpread: Double = 0
    ) -> (tasks: [TaskProfile], family: [Int]) {
        var g = SeededGenerator(seed: seed)
        let shapes = shapes(layers: layers, width: width)
        let prototypes: [[(Matrix, Matrix)]] = (0..<families).map { _ in
            shapes.map { s in
                (gaussian(rank, s.inFeatures, scale: 1 / Double(s.inFeatures).squareRoot(), &g),
                 gaussian(s.outFeatures, rank, scale: 1 / Double(rank).squareRoot(), &g))
            }
        }
        var tasks: [TaskProfile] = []
        var family: [Int] = []
        for f in 0..<families {
            for t in 0..<perFamily {
                let scale = 1 + scaleSpread * g.nextUnitDouble()
                let modules = zip(shapes, prototypes[f]).map { s, proto in
                    let a = Matrix(rows: rank, cols: s.inFeatures, elements: proto.0.elements.map {
                        $0 + noise * g.nextGaussian() / Double(s.inFeatures).squareRoot() })
                    let b = Matrix(rows: s.outFeatures, cols: rank, elements: proto.1.elements.map {
                        $0 + noise * g.nextGaussian() / Double(rank).squareRoot() })
                    return module(s, a: a, b: b, scale: scale)
                }
                tasks.append(TaskProfile(name: "f\(f)-t\(t)", version: 1, adapter: adapter(modules, rank: rank)))
                family.append(f)
            }
        }
        return (tasks, family)
    }

    /// Dense ΔW of a module (reference path for tests only).
    static func dense(_ m: LoRAModule) -> Matrix { m.b.multiplied(by: m.a, alpha: m.scale) }
}

/// The exact weighted sum Σ wᵢ ΔWᵢ as one adapter by concatenating factors (rank Σ rᵢ; the target
/// rank is ignored): a merge with no truncation error, for tests that isolate the clustering logic.
struct ConcatenatingMerger: ClusterMerging {
    var name: String { "concat" }

    func merge(_ adapters: [LoRAAdapter], weights: [Double], rank: Int) throws -> LoRAAdapter {
        let first = adapters[0]
        let modules = first.modules.indices.map { index -> LoRAModule in
            let parts = adapters.map { $0.modules[index] }
            let total = parts.reduce(0) { $0 + $1.rank }
            let inF = parts[0].inFeatures, outF = parts[0].outFeatures
            var a = Matrix(zeros: total, inF)
            var b = Matrix(zeros: outF, total)
            var offset = 0
            for (p, w) in zip(parts, weights) {
                for r in 0..<p.rank {
                    for c in 0..<inF { a[offset + r, c] = p.a[r, c] }
                    for o in 0..<outF { b[o, offset + r] = w * p.scale * p.b[o, r] }
                }
                offset += p.rank
            }
            return LoRAModule(name: parts[0].name, layer: parts[0].layer, projection: parts[0].projection,
                              a: a, b: b, scale: 1)
        }
        return SyntheticTasks.adapter(modules, rank: modules.map(\.rank).max() ?? 0,
                                      baseModel: first.config.baseModelNameOrPath ?? "")
    }
}

@Suite struct ClusteringSyntheticTests {
    @Test func familiesAreCloserWithinThanAcross() throws {
        let (tasks, family) = SyntheticTasks.families(families: 3, perFamily: 3)
        let sim = try TaskSimilarity.compute(names: tasks.map(\.name), adapters: tasks.map(\.adapter))
        var within: [Double] = [], across: [Double] = []
        for i in tasks.indices { for j in tasks.indices where j > i {
            (family[i] == family[j] ? { within.append(sim.cosine(i, j)) } : { across.append(sim.cosine(i, j)) })()
        } }
        #expect(within.min()! > 0.6)
        #expect(across.map(abs).max()! < 0.4)
    }

    @Test func concatenatingMergerIsTheExactWeightedSum() throws {
        let (tasks, _) = SyntheticTasks.families(families: 2, perFamily: 1, rank: 3, width: 8)
        let merged = try ConcatenatingMerger().merge(tasks.map(\.adapter), weights: [0.25, 2], rank: 3)
        for index in merged.modules.indices {
            let expected = SyntheticTasks.dense(tasks[0].adapter.modules[index]).scaled(0.25).elements
            let other = SyntheticTasks.dense(tasks[1].adapter.modules[index]).scaled(2).elements
            let got = SyntheticTasks.dense(merged.modules[index]).elements
            for k in got.indices { #expect(abs(got[k] - expected[k] - other[k]) < 1e-12) }
        }
    }
}

/// Σ wᵢ ΔWᵢ truncated to the target rank through a dense symmetric eigen-decomposition (Jacobi) of
/// ΔWᵀΔW: the optimal rank-k merge for the small shapes of these tests, independent of LAPACK.
struct DenseTruncatingMerger: ClusterMerging {
    var name: String { "dense-svd" }

    func merge(_ adapters: [LoRAAdapter], weights: [Double], rank: Int) throws -> LoRAAdapter {
        let modules = adapters[0].modules.indices.map { index -> LoRAModule in
            let parts = adapters.map { $0.modules[index] }
            var sum = Matrix(zeros: parts[0].outFeatures, parts[0].inFeatures)
            for (p, w) in zip(parts, weights) {
                let d = SyntheticTasks.dense(p)
                for k in sum.elements.indices { sum.elements[k] += w * d.elements[k] }
            }
            let v = Self.topEigenvectors(sum.multiplied(by: sum, transposeSelf: true), count: rank)  // in × rank
            return LoRAModule(name: parts[0].name, layer: parts[0].layer, projection: parts[0].projection,
                              a: v.transposed, b: sum * v, scale: 1)
        }
        return SyntheticTasks.adapter(modules, rank: rank, baseModel: adapters[0].config.baseModelNameOrPath ?? "")
    }

    /// Eigenvectors of the `count` largest eigenvalues of a symmetric matrix, as columns.
    static func topEigenvectors(_ s: Matrix, count: Int) -> Matrix {
        let n = s.rows
        var a = s
        var v = Matrix.identity(n)
        for _ in 0..<100 {
            var off = 0.0
            for p in 0..<n { for q in (p + 1)..<max(p + 1, n) { off += a[p, q] * a[p, q] } }
            if off < 1e-26 { break }
            for p in 0..<n {
                for q in (p + 1)..<max(p + 1, n) where abs(a[p, q]) > 1e-300 {
                    let theta = (a[q, q] - a[p, p]) / (2 * a[p, q])
                    let t = (theta >= 0 ? 1 : -1) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), sn = t * c
                    for k in 0..<n {
                        let akp = a[k, p], akq = a[k, q]
                        a[k, p] = c * akp - sn * akq
                        a[k, q] = sn * akp + c * akq
                    }
                    for k in 0..<n {
                        let apk = a[p, k], aqk = a[q, k]
                        a[p, k] = c * apk - sn * aqk
                        a[q, k] = sn * apk + c * aqk
                    }
                    for k in 0..<n {
                        let vkp = v[k, p], vkq = v[k, q]
                        v[k, p] = c * vkp - sn * vkq
                        v[k, q] = sn * vkp + c * vkq
                    }
                }
            }
        }
        let order = (0..<n).sorted { a[$0, $0] > a[$1, $1] }.prefix(count)
        var out = Matrix(zeros: n, count)
        for (j, col) in order.enumerated() { for k in 0..<n { out[k, j] = v[k, col] } }
        return out
    }
}

extension ClusteringSyntheticTests {
    @Test func denseTruncatingMergerKeepsTheBestRankK() throws {
        let (tasks, _) = SyntheticTasks.families(families: 3, perFamily: 1, rank: 3, width: 10)
        let exact = try ConcatenatingMerger().merge(tasks.map(\.adapter), weights: [1, 1, 1], rank: 9)
        let full = try DenseTruncatingMerger().merge(tasks.map(\.adapter), weights: [1, 1, 1], rank: 9)
        let truncated = try DenseTruncatingMerger().merge(tasks.map(\.adapter), weights: [1, 1, 1], rank: 4)
        #expect(WeightSpaceEvaluator.score(own: exact, candidate: full) > 1 - 1e-6)
        let kept = WeightSpaceEvaluator.score(own: exact, candidate: truncated)
        #expect(kept > 0.2 && kept < 0.95)
        #expect(truncated.modules.allSatisfy { $0.rank == 4 })
    }
}

extension ClusteringSyntheticTests {
    @Test func svdClusterMergerMatchesTheDenseTruncationAtExactlyTheTargetRank() throws {
        let (tasks, _) = SyntheticTasks.families(families: 2, perFamily: 2, rank: 3, width: 12, noise: 0.5)
        let weights = [0.4, 0.3, 0.2, 0.1]
        let factored = try SVDClusterMerger().merge(tasks.map(\.adapter), weights: weights, rank: 5)
        let dense = try DenseTruncatingMerger().merge(tasks.map(\.adapter), weights: weights, rank: 5)
        #expect(factored.modules.allSatisfy { $0.rank == 5 })
        #expect(factored.config.r == 5)
        #expect(WeightSpaceEvaluator.score(own: dense, candidate: factored) > 1 - 1e-6)
        // More directions than exist: zero-padded to the target rank, and exact.
        let padded = try SVDClusterMerger().merge([tasks[0].adapter], weights: [1], rank: 6)
        #expect(padded.modules.allSatisfy { $0.rank == 6 })
        #expect(WeightSpaceEvaluator.score(own: tasks[0].adapter, candidate: padded) > 1 - 1e-6)
    }

    @Test func similarityAgreesWithLowRankCosineOnOneModule() throws {
        let (tasks, _) = SyntheticTasks.families(families: 2, perFamily: 2, layers: 1, width: 16, noise: 0.6)
        // One module per adapter: keep only the first.
        let single = tasks.map { SyntheticTasks.adapter([$0.adapter.modules[0]], rank: 4) }
        let sim = try TaskSimilarity.compute(names: tasks.map(\.name), adapters: single)
        for i in single.indices { for j in single.indices where j != i {
            let expected = try LowRank.cosine(single[i].modules[0].update, single[j].modules[0].update)
            #expect(abs(sim.cosine(i, j) - expected) < 1e-10)
        } }
    }
}
