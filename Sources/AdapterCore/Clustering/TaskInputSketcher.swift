import Foundation

/// Makes a task's `TaskInputSketch` from one base-model forward pass over its examples (packed
/// batches of at most `maxBatchTokens` tokens, no adapter), through the runtime's
/// `LinearInputObserver` hook.
///
/// Per input space, X (tokens × d_in) is decomposed — the thin SVD of X while it has at most d_in rows
/// (O(n²·d_in)), else the eigendecomposition of the d_in × d_in Gram XᵀX (O(d_in³), by SVD, which for a
/// symmetric positive semi-definite matrix gives its eigenpairs) — and the top directions covering
/// `energyShare` of ‖X‖² are kept, at most `maxDirections` per space. Under a byte cap
/// (`maximumBytes`, e.g. half the task's adapter), directions are then dropped where they hold the
/// smallest share of their space's energy until the sketch fits. The inputs of maps the task does not
/// adapt, when recorded too (`otherMapsMaximumBytes`), have a cap of their own, filled with the
/// directions of largest share that fit, so that a small cap covers as many of those spaces as it can.
public struct TaskInputSketcher: Sendable {
    /// What to keep.
    public struct Options: Sendable, Hashable {
        /// Keep the fewest top directions whose energies reach this share of ‖X‖², in (0, 1].
        public var energyShare: Double
        /// At most this many directions per input space.
        public var maxDirections: Int
        /// Bytes the directions and energies may take in all (`TaskInputSketch.byteSize`); nil: no cap.
        public var maximumBytes: Int?
        /// The linear maps to record, by runtime or adapter name; nil: every adaptable linear map.
        public var modules: Set<String>?
        /// With `modules` given, also record every other adaptable linear map's input in at most this
        /// many bytes of their own (the directions of largest energy share that fit), so that a candidate
        /// that adapts a map the task's adapter does not (an attention output merged into a q+v task)
        /// can be scored; `maximumBytes` then caps the spaces of `modules` alone, which stay what they
        /// are without the others. nil: only `modules` (and maps reading their inputs) are recorded.
        public var otherMapsMaximumBytes: Int?
        /// Decoders: read each example's answer after its prompt (as the task was trained), not only the prompt.
        public var includeAnswers: Bool
        /// Most tokens in one forward pass.
        public var maxBatchTokens: Int

        public init(energyShare: Double = 0.999, maxDirections: Int = 64, maximumBytes: Int? = nil,
                    modules: Set<String>? = nil, otherMapsMaximumBytes: Int? = nil, includeAnswers: Bool = true,
                    maxBatchTokens: Int = 4096) {
            self.energyShare = energyShare
            self.maxDirections = maxDirections
            self.maximumBytes = maximumBytes
            self.modules = modules
            self.otherMapsMaximumBytes = otherMapsMaximumBytes
            self.includeAnswers = includeAnswers
            self.maxBatchTokens = maxBatchTokens
        }

        /// What the daemon records for a task: the maps its `adapter` adapts (and those reading the
        /// same inputs) in at most half the adapter's tensor bytes, every other adaptable map in at
        /// most an eighth more.
        public static func forTask(_ adapter: LoRAAdapter) -> Options {
            Options(maximumBytes: adapter.tensorBytes / 2, modules: Set(adapter.modules.map(\.name)),
                    otherMapsMaximumBytes: adapter.tensorBytes / 8)
        }

        func validated() throws(ClusteringError) -> Options {
            guard energyShare > 0, energyShare <= 1 else {
                throw ClusteringError(.invalidArgument, "energy share \(energyShare) must lie in (0, 1]")
            }
            guard maxDirections >= 1 else {
                throw ClusteringError(.invalidArgument, "at most \(maxDirections) directions per input; it must be at least 1")
            }
            if let maximumBytes, maximumBytes < 0 {
                throw ClusteringError(.invalidArgument, "the sketch byte cap \(maximumBytes) is negative")
            }
            if let otherMapsMaximumBytes, otherMapsMaximumBytes < 0 {
                throw ClusteringError(.invalidArgument, "the other maps' byte cap \(otherMapsMaximumBytes) is negative")
            }
            guard maxBatchTokens >= 1 else {
                throw ClusteringError(.invalidArgument, "maxBatchTokens is \(maxBatchTokens); it must be at least 1")
            }
            return self
        }
    }

    public let model: BaseModel
    public let encoding: ExampleSequences

    public init(model: BaseModel, tokenizer: any Tokenizer) {
        self.model = model
        self.encoding = ExampleSequences(tokenizer: tokenizer, model: model)
    }

    /// Loads the base model (its linear maps multiplying in `precision`) and its tokenizer from a model
    /// directory.
    public init(modelDirectory: URL, precision: RuntimePrecision = .float32) throws(ModelRuntimeError) {
        self.init(model: try BaseModel(modelDirectory: modelDirectory, precision: precision),
                  tokenizer: try TokenizerLoader.load(modelDirectory: modelDirectory))
    }

    /// The sketch of a task's examples (`ExampleSequences`: prompts, and answers for decoders when
    /// `includeAnswers`).
    public func sketch(_ examples: [TaskExample], options: Options = Options()) throws -> TaskInputSketch {
        guard !examples.isEmpty else { throw ClusteringError(.invalidArgument, "no examples to sketch") }
        let sequences = try examples.map { example throws(ModelRuntimeError) in
            options.includeAnswers ? try encoding.promptAndAnswer(example) : try encoding.prompt(example)
        }
        return try sketch(sequences: sequences, options: options)
    }

    /// The sketch of token sequences.
    public func sketch(sequences: [[Int32]], options: Options = Options()) throws -> TaskInputSketch {
        let options = try options.validated()
        guard !sequences.isEmpty else { throw ClusteringError(.invalidArgument, "no sequences to sketch") }
        let own = try options.modules.map { try recordedNames($0) }
        let recorder = LinearInputRecorder(modules: options.otherMapsMaximumBytes == nil ? own : nil)
        var start = 0
        while start < sequences.count {
            var end = start
            var tokens = 0
            while end < sequences.count, end == start || tokens + sequences[end].count <= options.maxBatchTokens {
                tokens += sequences[end].count
                end += 1
            }
            recorder.beginPass()
            _ = try model.hiddenStates(Array(sequences[start..<end]), observer: recorder)
            start = end
        }
        if let problem = recorder.inconsistency {
            throw ClusteringError(.invalidArgument, "recording the inputs failed: \(problem)")
        }
        var inputs: [RecordedInput] = []
        for space in recorder.spaces {
            guard space.passes == recorder.passCount else {
                throw ClusteringError(.invalidArgument,
                    "recording the inputs failed: '\(space.modules[0])' was observed in \(space.passes) of \(recorder.passCount) passes")
            }
            if let gram = space.gram {
                inputs.append(RecordedInput(modules: space.modules, gram: gram, totalEnergy: space.totalEnergy))
            } else {
                var x = Matrix(zeros: space.rows, space.width)
                var offset = 0
                for block in space.blocks {
                    for value in block {
                        x.elements[offset] = Double(value)
                        offset += 1
                    }
                }
                inputs.append(RecordedInput(modules: space.modules, rows: x))
            }
        }
        var named = options
        named.modules = own
        return try Self.sketch(inputs, tokens: sequences.reduce(0) { $0 + $1.count }, sequences: sequences.count,
                               options: named)
    }

    /// The runtime names of the requested linear maps, every one checked against the model.
    private func recordedNames(_ requested: Set<String>) throws(ClusteringError) -> Set<String> {
        let known = Set(model.adaptableLinearNames)
        var names: Set<String> = []
        for name in requested {
            let canonical = model.canonicalLinearName(name)
            guard known.contains(canonical) else {
                throw ClusteringError(.invalidArgument,
                    "'\(name)' is not an adaptable linear map of the base model (they are named like '\(known.sorted().first ?? "")')")
            }
            names.insert(canonical)
        }
        return names
    }

    /// The eigenvalues λᵢ of X Xᵀ (n × n, n < d_in rows of X), descending, and the directions
    /// vᵢ = Xᵀuᵢ / √λᵢ (rows, n × d_in; zero where λᵢ is): X's singular pairs, from the small Gram.
    /// The directions of the small λᵢ are less accurate than the SVD's (the Gram squares X's
    /// condition); used where only the leading few are kept.
    static func leadingDirections(_ x: Matrix) throws -> (energies: [Double], directions: Matrix) {
        let eigen = try LAPACK.svd(LAPACK.gramOfRows(x))   // X Xᵀ = U Λ Uᵀ
        let energies = eigen.singularValues
        let floor = (energies.first ?? 0) * 1e-13
        var scaled = eigen.u.transposed                     // n × n: row i is uᵢᵀ
        for i in 0..<energies.count {
            let factor = energies[i] > floor ? 1 / energies[i].squareRoot() : 0
            for j in 0..<scaled.cols { scaled.elements[i * scaled.cols + j] *= factor }
        }
        return (energies.map { $0 > floor ? $0 : 0 }, scaled.multiplied(by: x))
    }

    /// One input space as recorded: its rows X (tokens × d_in) or its Gram XᵀX.
    public struct RecordedInput: Sendable {
        public let modules: [String]
        let rows: Matrix?
        let gram: Matrix?
        let totalEnergy: Double

        /// An input given by its rows X (tokens × d_in).
        public init(modules: [String], rows: Matrix) {
            self.modules = modules
            self.rows = rows
            self.gram = nil
            self.totalEnergy = rows.frobeniusNormSquared
        }

        /// An input given by its Gram matrix XᵀX (d_in × d_in, symmetric positive semi-definite) and ‖X‖².
        public init(modules: [String], gram: Matrix, totalEnergy: Double) {
            self.modules = modules
            self.rows = nil
            self.gram = gram
            self.totalEnergy = totalEnergy
        }

        var width: Int { rows?.cols ?? gram?.cols ?? 0 }
    }

    /// The sketch of inputs given directly (the decomposition and selection `sketch(sequences:)` does
    /// on what it recorded; usable with activations from elsewhere). With `options.modules` and
    /// `otherMapsMaximumBytes` given, the inputs none of whose maps is among `modules` (named as the
    /// inputs name them) are capped by `otherMapsMaximumBytes`, the others by `maximumBytes`.
    public static func sketch(_ inputs: [RecordedInput], tokens: Int, sequences: Int,
                              options: Options = Options()) throws -> TaskInputSketch {
        let options = try options.validated()
        // Inputs none of whose maps is among `modules`, when recorded under a cap of their own.
        let isOther = inputs.map { input in
            options.otherMapsMaximumBytes != nil && (options.modules.map { $0.isDisjoint(with: input.modules) } ?? false)
        }
        var decomposed: [(input: RecordedInput, energies: [Double], directions: Matrix, other: Bool)] = []
        for (index, input) in inputs.enumerated() {
            let energies: [Double]
            let directions: Matrix
            if let x = input.rows {
                guard x.rows > 0 else {
                    decomposed.append((input, [], Matrix(zeros: 0, x.cols), isOther[index]))
                    continue
                }
                if isOther[index], x.rows < x.cols {
                    // Few of these directions are kept: from the eigenpairs of the small XXᵀ (tokens²),
                    // vᵢ = Xᵀuᵢ/√λᵢ, rather than the SVD of the wide X (the MLP's inner width).
                    (energies, directions) = try Self.leadingDirections(x)
                } else {
                    let svd = try LAPACK.svd(x)
                    energies = svd.singularValues.map { $0 * $0 }
                    directions = svd.vt
                }
            } else if let g = input.gram {
                guard g.rows == g.cols else {
                    throw ClusteringError(.invalidArgument, "the Gram matrix of '\(input.modules.first ?? "")' is \(g.rows)×\(g.cols), not square")
                }
                let svd = try LAPACK.svd(g)
                energies = svd.singularValues
                directions = svd.vt
            } else {
                continue
            }
            decomposed.append((input, energies, directions, isOther[index]))
        }
        // Per space: the fewest directions reaching the energy share, at most maxDirections, none of
        // zero energy.
        var kept: [Int] = decomposed.map { item in
            let total = item.energies.reduce(0, +)
            guard total > 0 else { return 0 }
            var sum = 0.0
            var k = 0
            let floor = total * 1e-15
            while k < item.energies.count, k < options.maxDirections, item.energies[k] > floor, sum < options.energyShare * total {
                sum += item.energies[k]
                k += 1
            }
            return k
        }
        /// One kept direction of space `i`: its Float components and its Double energy.
        func directionBytes(_ i: Int) -> Int { decomposed[i].input.width * MemoryLayout<Float>.size + MemoryLayout<Double>.size }
        func bytes(_ i: Int) -> Int { kept[i] * directionBytes(i) }
        /// The share of space `i`'s energy its direction `k` holds.
        func share(_ i: Int, _ k: Int) -> Double {
            decomposed[i].energies[k] / max(decomposed[i].input.totalEnergy, .leastNormalMagnitude)
        }
        /// Drops, among `group`, the kept direction with the smallest share of its own space's energy
        /// until the group fits `cap`.
        func fit(_ group: [Int], within cap: Int) {
            var total = group.reduce(0) { $0 + bytes($1) }
            while total > cap {
                var worst: Int?
                var worstShare = Double.infinity
                for i in group where kept[i] > 0 && share(i, kept[i] - 1) < worstShare {
                    worstShare = share(i, kept[i] - 1)
                    worst = i
                }
                guard let i = worst else { break }
                kept[i] -= 1
                total -= directionBytes(i)
            }
        }
        /// Keeps, among `group`, the directions with the largest share of their own space's energy
        /// (of those the energy share chose) that fit `cap`, adding one at a time, so that a small
        /// cap still covers as many spaces as it can.
        func fill(_ group: [Int], within cap: Int) {
            let available = group.map { kept[$0] }
            for i in group { kept[i] = 0 }
            var total = 0
            while true {
                var best: Int?
                var bestShare = -1.0
                for (g, i) in group.enumerated()
                where kept[i] < available[g] && total + directionBytes(i) <= cap && share(i, kept[i]) > bestShare {
                    bestShare = share(i, kept[i])
                    best = i
                }
                guard let i = best else { break }
                kept[i] += 1
                total += directionBytes(i)
            }
        }
        let others = Set(decomposed.indices.filter { decomposed[$0].other })
        if let cap = options.maximumBytes { fit(decomposed.indices.filter { !others.contains($0) }, within: cap) }
        if let cap = options.otherMapsMaximumBytes { fill(others.sorted(), within: cap) }
        var spaces: [TaskInputSketch.Space] = []
        for (i, item) in decomposed.enumerated() {
            let width = item.input.width
            let k = kept[i]
            var directions = [Float](repeating: 0, count: k * width)
            for r in 0..<k {
                for c in 0..<width { directions[r * width + c] = Float(item.directions.elements[r * width + c]) }
            }
            spaces.append(try TaskInputSketch.Space(
                modules: item.input.modules, width: width, directions: directions,
                energies: Array(item.energies.prefix(k)), totalEnergy: item.input.totalEnergy))
        }
        return try TaskInputSketch(spaces: spaces, tokens: tokens, sequences: sequences)
    }
}
