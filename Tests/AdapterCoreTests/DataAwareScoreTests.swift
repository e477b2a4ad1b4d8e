import Foundation
import Testing
@testable import AdapterCore

/// Small synthetic modules and inputs for the data-aware score and merge: maps q and v read one input
/// X (tokens × 16), o another, as in a decoder layer.
enum DataAwareFixtures {
    static let q = "model.layers.0.self_attn.q_proj"
    static let v = "model.layers.0.self_attn.v_proj"
    static let o = "model.layers.0.self_attn.o_proj"
    static let width = 16
    static let outs = [q: 16, v: 8, o: 16]

    static func random(_ rows: Int, _ cols: Int, _ g: inout SeededGenerator, scale: Double = 1) -> Matrix {
        SyntheticTasks.gaussian(rows, cols, scale: scale, &g)
    }

    /// Tokens × width activations with a few strong directions (as real activations have) plus noise.
    static func inputs(tokens: Int, _ g: inout SeededGenerator, strong: Int = 3) -> Matrix {
        let basis = random(strong, width, &g)
        let mix = random(tokens, strong, &g, scale: 3)
        var x = mix.multiplied(by: basis)
        for i in x.elements.indices { x.elements[i] += 0.2 * g.nextGaussian() }
        return x
    }

    static func module(_ name: String, rank: Int, _ g: inout SeededGenerator, scale: Double = 0.5) -> LoRAModule {
        LoRAModule(name: name, layer: 0, projection: nil, a: random(rank, width, &g), b: random(outs[name]!, rank, &g),
                   scale: scale)
    }

    static func adapter(_ modules: [LoRAModule]) -> LoRAAdapter {
        SyntheticTasks.adapter(modules, rank: modules.map(\.rank).max() ?? 1)
    }

    static func zeroCopy(_ adapter: LoRAAdapter) -> LoRAAdapter {
        SyntheticTasks.adapter(adapter.modules.map {
            LoRAModule(name: $0.name, layer: $0.layer, projection: $0.projection, a: Matrix(zeros: $0.rank, $0.inFeatures),
                       b: Matrix(zeros: $0.outFeatures, $0.rank), scale: $0.scale)
        }, rank: adapter.config.r)
    }

    /// A sketch of X (q, v) and Y (o) that keeps every direction.
    static func sketch(_ x: Matrix, _ y: Matrix, options: TaskInputSketcher.Options = .init(energyShare: 1, maxDirections: 1000)) throws -> TaskInputSketch {
        try TaskInputSketcher.sketch([.init(modules: [q, v], rows: x), .init(modules: [o], rows: y)],
                                     tokens: x.rows, sequences: 1, options: options)
    }

    static func dense(_ module: LoRAModule?, out: Int) -> Matrix {
        guard let module else { return Matrix(zeros: out, width) }
        return DenseReference.deltaW(module.update)
    }

    /// Σ_m ‖(ΔW_c − ΔW_t) Zᵀ‖² and Σ_m ‖ΔW_t Zᵀ‖² with the dense ΔW and a dense Z per input (rows: tokens or √e·v).
    static func denseEnergies(own: LoRAAdapter, candidate: LoRAAdapter, inputs: [String: Matrix]) -> (lost: Double, own: Double) {
        var lost = 0.0, energy = 0.0
        for name in [q, v, o] {
            let t = dense(own.modules.first { $0.name == name }, out: outs[name]!)
            let c = dense(candidate.modules.first { $0.name == name }, out: outs[name]!)
            var d = c
            for i in d.elements.indices { d.elements[i] -= t.elements[i] }
            let z = inputs[name]!
            lost += d.multiplied(by: z, transposeOther: true).frobeniusNormSquared
            energy += t.multiplied(by: z, transposeOther: true).frobeniusNormSquared
        }
        return (lost, energy)
    }

    static func relative(_ a: Double, _ b: Double) -> Double { abs(a - b) / max(abs(b), 1e-300) }
}

@Suite struct DataAwareScoreTests {
    typealias F = DataAwareFixtures

    /// The factored score (A·Sᵀ, then B·(…), never ΔW) equals the dense ‖(ΔW_c − ΔW_t)·Sᵀ‖² computation
    /// with the same sketch to 1e-9 in Double, and the dense computation on the raw X to 1e-5 when the
    /// sketch keeps every direction (its directions are stored as Float32). Maps on one side only
    /// count as zero updates on the other (v only in the own adapter, o only in the candidate).
    @Test func factoredScoreEqualsDenseComputation() throws {
        var g = SeededGenerator(seed: 11)
        let x = F.inputs(tokens: 30, &g), y = F.inputs(tokens: 30, &g)
        let own = F.adapter([F.module(F.q, rank: 3, &g), F.module(F.v, rank: 3, &g, scale: 0.2)])
        // Partly right: the own q update with a perturbed B, no v, a small o.
        let q = own.modules[0]
        let noise = F.random(q.outFeatures, q.rank, &g, scale: 0.4)
        let nearQ = LoRAModule(name: F.q, layer: 0, projection: nil, a: q.a,
                               b: Matrix(rows: q.outFeatures, cols: q.rank, elements: zip(q.b.elements, noise.elements).map { $0 + $1 }),
                               scale: q.scale)
        let candidate = F.adapter([nearQ, F.module(F.o, rank: 2, &g, scale: 0.1)])
        let sketch = try F.sketch(x, y)
        #expect(sketch.spaces.map(\.modules) == [[F.q, F.v], [F.o]])
        #expect(sketch.spaces.allSatisfy { abs($0.keptShare - 1) < 1e-12 })

        let reference = try DataAwareScore.Reference(own: own, sketch: sketch)
        let breakdown = try reference.breakdown(candidate)
        let s0 = sketch.spaces[0].scaledDirections, s1 = sketch.spaces[1].scaledDirections
        let withSketch = F.denseEnergies(own: own, candidate: candidate, inputs: [F.q: s0, F.v: s0, F.o: s1])
        #expect(F.relative(breakdown.lost, withSketch.lost) < 1e-9)
        #expect(F.relative(breakdown.own, withSketch.own) < 1e-9)
        let expected = max(0, 1 - withSketch.lost / withSketch.own)
        #expect(expected > 0.05 && expected < 0.95, "the candidate should be partly right: \(expected)")
        #expect(F.relative(breakdown.score, expected) < 1e-9)

        let withX = F.denseEnergies(own: own, candidate: candidate, inputs: [F.q: x, F.v: x, F.o: y])
        #expect(F.relative(breakdown.lost, withX.lost) < 1e-5)
        #expect(F.relative(breakdown.own, withX.own) < 1e-5)
        #expect(F.relative(try DataAwareScore.score(own: own, candidate: candidate, sketch: sketch),
                           max(0, 1 - withX.lost / withX.own)) < 1e-5)
    }

    /// The own adapter scores exactly 1, an all-zero adapter exactly 0, 0.8·ΔW keeps 1 − 0.2² of the
    /// effect on any inputs, and 2·ΔW is as far as zero.
    @Test func ownScoresOneZeroScoresZero() throws {
        var g = SeededGenerator(seed: 12)
        let sketch = try F.sketch(F.inputs(tokens: 20, &g), F.inputs(tokens: 20, &g))
        let own = F.adapter([F.module(F.q, rank: 4, &g), F.module(F.v, rank: 2, &g), F.module(F.o, rank: 3, &g)])
        #expect(try DataAwareScore.score(own: own, candidate: own, sketch: sketch) == 1)
        #expect(try DataAwareScore.score(own: own, candidate: F.zeroCopy(own), sketch: sketch) == 0)
        #expect(abs(try DataAwareScore.score(own: own, candidate: EvaluatorTests.scaledCopy(own, by: 0.8), sketch: sketch) - 0.96) < 1e-12)
        #expect(try DataAwareScore.score(own: own, candidate: EvaluatorTests.scaledCopy(own, by: 2), sketch: sketch) < 1e-12)
    }

    /// What the examples never feed a map does not count: a candidate that differs from the own
    /// update only along input directions orthogonal to every example token scores 1, though its
    /// weight-space score is far below 1; a difference inside the examples' span costs score.
    @Test func differencesTheExamplesDoNotSeeAreFree() throws {
        var g = SeededGenerator(seed: 13)
        // Tokens in the span of the first 8 coordinates only.
        var x = F.random(25, F.width, &g)
        for t in 0..<25 { for c in 8..<F.width { x.elements[t * F.width + c] = 0 } }
        let sketch = try TaskInputSketcher.sketch([.init(modules: [F.q], rows: x)], tokens: 25, sequences: 1,
                                                  options: .init(energyShare: 1))
        let own = F.adapter([F.module(F.q, rank: 3, &g)])
        // The candidate adds an update reading only the coordinates 8…15.
        var unseenA = F.random(2, F.width, &g)
        for r in 0..<2 { for c in 0..<8 { unseenA.elements[r * F.width + c] = 0 } }
        let extra = LoRAModule(name: F.q, layer: 0, projection: nil, a: unseenA, b: F.random(16, 2, &g), scale: 1)
        let ownModule = own.modules[0]
        // [B_own, B_extra]·[s·A_own; A_extra] = ΔW_own + B_extra·A_extra.
        let scaledOwnA: [Double] = ownModule.a.elements.map { $0 * ownModule.scale }
        var stackedB: [Double] = []
        for i in 0..<16 {
            stackedB += ownModule.b.elements[(i * 3)..<(i * 3 + 3)]
            stackedB += extra.b.elements[(i * 2)..<(i * 2 + 2)]
        }
        let combined = LoRAModule(name: F.q, layer: 0, projection: nil,
                                  a: Matrix(rows: 5, cols: F.width, elements: scaledOwnA + extra.a.elements),
                                  b: Matrix(rows: 16, cols: 5, elements: stackedB), scale: 1)
        let candidate = F.adapter([combined])
        #expect(abs(try DataAwareScore.score(own: own, candidate: candidate, sketch: sketch) - 1) < 1e-6)
        #expect(WeightSpaceEvaluator.score(own: own, candidate: candidate) < 0.5)
        // The same extra update on the seen coordinates costs score.
        var seenA = unseenA
        for r in 0..<2 { for c in 0..<8 { seenA.elements[r * F.width + c] = unseenA.elements[r * F.width + c + 8] } }
        let seen = LoRAModule(name: F.q, layer: 0, projection: nil,
                              a: Matrix(rows: 5, cols: F.width, elements: scaledOwnA + seenA.elements), b: combined.b, scale: 1)
        #expect(try DataAwareScore.score(own: own, candidate: F.adapter([seen]), sketch: sketch) < 0.9)
    }

    /// A candidate adapting a map the sketch did not record cannot be scored and says so; an
    /// all-zero padding module there is fine. A map with another width than recorded is refused.
    @Test func unrecordedMapsAreRefused() async throws {
        var g = SeededGenerator(seed: 14)
        let x = F.inputs(tokens: 20, &g)
        let sketch = try TaskInputSketcher.sketch([.init(modules: [F.q, F.v], rows: x)], tokens: 20, sequences: 1)
        let own = F.adapter([F.module(F.q, rank: 2, &g)])
        let withO = F.adapter([F.module(F.q, rank: 2, &g), F.module(F.o, rank: 2, &g)])
        #expect { try DataAwareScore.score(own: own, candidate: withO, sketch: sketch) } throws: { error in
            (error as? ClusteringError)?.code == .evaluatorFailed && "\(error)".contains(F.o)
        }
        let padded = F.adapter([own.modules[0], F.zeroCopy(F.adapter([F.module(F.o, rank: 1, &g)])).modules[0]])
        #expect(try DataAwareScore.score(own: own, candidate: padded, sketch: sketch) == 1)
        let evaluator = DataAwareEvaluator(sketches: ["t": sketch])
        let task = TaskProfile(name: "t", version: 1, adapter: own)
        await #expect(throws: ClusteringError.self) {
            try await evaluator.checkedScore(task: TaskProfile(name: "unknown", version: 1, adapter: own), candidate: own)
        }
        #expect(try await evaluator.score(task: task, candidate: own) == 1)
        #expect(evaluator.maximumScore == 1)
    }

    /// The evaluator scores what `DataAwareScore` does and keeps one prepared reference per task
    /// version: a re-installed task (new version) with another sketch is scored on the new one.
    @Test func evaluatorUsesTheSketchOfTheTaskVersion() async throws {
        var g = SeededGenerator(seed: 15)
        let x1 = F.inputs(tokens: 20, &g), x2 = F.inputs(tokens: 20, &g)
        let s1 = try TaskInputSketcher.sketch([.init(modules: [F.q], rows: x1)], tokens: 20, sequences: 1)
        let s2 = try TaskInputSketcher.sketch([.init(modules: [F.q], rows: x2)], tokens: 20, sequences: 1)
        let own = F.adapter([F.module(F.q, rank: 3, &g)])
        let candidate = F.adapter([F.module(F.q, rank: 3, &g)])
        let evaluator = DataAwareEvaluator { task in task.version == 1 ? s1 : s2 }
        let v1 = try await evaluator.score(task: TaskProfile(name: "t", version: 1, adapter: own), candidate: candidate)
        let v2 = try await evaluator.score(task: TaskProfile(name: "t", version: 2, adapter: own), candidate: candidate)
        #expect(v1 == (try DataAwareScore.score(own: own, candidate: candidate, sketch: s1)))
        #expect(v2 == (try DataAwareScore.score(own: own, candidate: candidate, sketch: s2)))
    }
}

@Suite struct TaskInputSketchTests {
    typealias F = DataAwareFixtures

    /// The Gram path (XᵀX, used once a space has more tokens than features) gives the rows path's
    /// energies and the same projector onto the kept directions.
    @Test func gramAndRowsGiveTheSameSketch() throws {
        var g = SeededGenerator(seed: 21)
        let x = F.inputs(tokens: 40, &g)
        let options = TaskInputSketcher.Options(energyShare: 0.99)
        let fromRows = try TaskInputSketcher.sketch([.init(modules: [F.q], rows: x)], tokens: 40, sequences: 1, options: options)
        let gram = x.multiplied(by: x, transposeSelf: true)
        let fromGram = try TaskInputSketcher.sketch([.init(modules: [F.q], gram: gram, totalEnergy: x.frobeniusNormSquared)],
                                                    tokens: 40, sequences: 1, options: options)
        let a = fromRows.spaces[0], b = fromGram.spaces[0]
        #expect(a.count == b.count && a.count >= 3 && a.count < F.width)
        for (e1, e2) in zip(a.energies, b.energies) { #expect(F.relative(e2, e1) < 1e-9) }
        let pa = a.scaledDirections.multiplied(by: a.scaledDirections, transposeSelf: true)
        let pb = b.scaledDirections.multiplied(by: b.scaledDirections, transposeSelf: true)
        let scale = pa.elements.map(abs).max()!
        #expect(zip(pa.elements, pb.elements).allSatisfy { abs($0 - $1) <= 1e-6 * scale })
        #expect(a.keptShare >= 0.99 && a.keptShare < 1)
    }

    /// An input of maps the task does not adapt (`otherMapsMaximumBytes`), wider than its tokens: its
    /// directions come from the small XXᵀ and equal the SVD's where they are kept; its cap is filled
    /// with the directions of largest share that fit, and the task's own space is as without it.
    @Test func otherMapsHaveTheirOwnCapAndTheSVDsLeadingDirections() throws {
        var g = SeededGenerator(seed: 23)
        let own = F.inputs(tokens: 40, &g)
        let wide = SyntheticTasks.gaussian(10, 4, scale: 3, &g).multiplied(by: SyntheticTasks.gaussian(4, 48, scale: 1, &g))
        let inputs: [TaskInputSketcher.RecordedInput] = [.init(modules: [F.q], rows: own), .init(modules: [F.o], rows: wide)]
        let cap = 3 * (48 * MemoryLayout<Float>.size + MemoryLayout<Double>.size) + 10
        let sketch = try TaskInputSketcher.sketch(inputs, tokens: 40, sequences: 1,
            options: .init(maximumBytes: 2_000, modules: [F.q], otherMapsMaximumBytes: cap))
        let alone = try TaskInputSketcher.sketch([inputs[0]], tokens: 40, sequences: 1,
                                                 options: .init(maximumBytes: 2_000, modules: [F.q]))
        #expect(sketch.spaces[0] == alone.spaces[0])
        let other = sketch.spaces[1]
        #expect(other.count == 3)
        let svd = try LAPACK.svd(wide)
        for i in 0..<3 {
            #expect(F.relative(other.energies[i], svd.singularValues[i] * svd.singularValues[i]) < 1e-9)
            var dot = 0.0
            for j in 0..<48 { dot += Double(other.directions[i * 48 + j]) * svd.vt.elements[i * 48 + j] }
            #expect(abs(abs(dot) - 1) < 1e-5, "direction \(i)")
        }
        #expect(other.totalEnergy == wide.frobeniusNormSquared)
    }

    /// Fewest directions reaching the share, at most `maxDirections`; under a byte cap the directions
    /// holding the smallest share of their own space go first, and the sketch fits the cap.
    @Test func directionsAreChosenByEnergyWithinTheCap() throws {
        var g = SeededGenerator(seed: 22)
        let x = F.inputs(tokens: 40, &g, strong: 2), y = F.random(40, F.width, &g)  // y: flat spectrum
        let all = try F.sketch(x, y)
        #expect(all.spaces.map(\.count) == [F.width, F.width])
        let share = try F.sketch(x, y, options: .init(energyShare: 0.9))
        #expect(share.spaces[0].count < share.spaces[1].count, "a concentrated input needs fewer directions")
        for space in share.spaces {
            #expect(space.keptShare >= 0.9)
            let fewer = space.energies.dropLast().reduce(0, +) / space.totalEnergy
            #expect(fewer < 0.9, "one direction fewer must miss the share")
        }
        #expect(try F.sketch(x, y, options: .init(energyShare: 1, maxDirections: 5)).spaces.map(\.count) == [5, 5])
        let perDirection = F.width * 4 + 8
        let capped = try F.sketch(x, y, options: .init(energyShare: 1, maximumBytes: 10 * perDirection))
        #expect(capped.byteSize <= 10 * perDirection)
        #expect(capped.spaces.map(\.count).reduce(0, +) == 10)
        // The concentrated input keeps its strong directions; the flat one gives up more.
        #expect(capped.spaces[0].keptShare > capped.spaces[1].keptShare)
        #expect(capped.spaces[0].count >= 2)
    }

    /// JSON round trip (directions as base64 Float32) is exact; damaged documents are refused.
    @Test func codableRoundTripAndRefusals() throws {
        var g = SeededGenerator(seed: 23)
        let sketch = try F.sketch(F.inputs(tokens: 12, &g), F.inputs(tokens: 12, &g), options: .init(energyShare: 0.999))
        let data = try JSONEncoder().encode(sketch)
        let decoded = try JSONDecoder().decode(TaskInputSketch.self, from: data)
        #expect(decoded == sketch)
        #expect(decoded.space(forModule: "layers.0.self_attn.v_proj")?.modules == [F.q, F.v])

        var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var spaces = try #require(object["spaces"] as? [[String: Any]])
        spaces[0]["width"] = 15
        object["spaces"] = spaces
        #expect(throws: ClusteringError.self) {
            try JSONDecoder().decode(TaskInputSketch.self, from: JSONSerialization.data(withJSONObject: object))
        }
        spaces[0]["width"] = F.width
        spaces[0]["directions"] = "not base64!"
        object["spaces"] = spaces
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(TaskInputSketch.self, from: JSONSerialization.data(withJSONObject: object))
        }
        spaces[0]["directions"] = (try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])["spaces"] as! [[String: Any]])[0]["directions"]
        spaces[1]["modules"] = [F.q]
        object["spaces"] = spaces
        #expect { try JSONDecoder().decode(TaskInputSketch.self, from: JSONSerialization.data(withJSONObject: object)) } throws: { error in
            "\(error)".contains("two input spaces")
        }
        object["format"] = "something-else"
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(TaskInputSketch.self, from: JSONSerialization.data(withJSONObject: object))
        }
    }

    @Test func badOptionsAreRefused() throws {
        let x = Matrix(zeros: 2, 4)
        for options in [TaskInputSketcher.Options(energyShare: 0), .init(energyShare: 1.5), .init(maxDirections: 0),
                        .init(maximumBytes: -1), .init(maxBatchTokens: 0)] {
            #expect(throws: ClusteringError.self) {
                try TaskInputSketcher.sketch([.init(modules: ["m"], rows: x)], tokens: 2, sequences: 1, options: options)
            }
        }
        // An all-zero input keeps no direction and is valid.
        #expect(try TaskInputSketcher.sketch([.init(modules: ["m"], rows: x)], tokens: 2, sequences: 1).spaces[0].count == 0)
    }
}
