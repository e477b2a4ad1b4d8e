import Foundation

/// What a task's examples feed into each adaptable linear map of its base model, in compact form:
/// for every input space (the activations X, tokens × d_in, that one or more linear maps read), the
/// top directions of the Gram matrix XᵀX (orthonormal rows vᵢ) and their energies eᵢ = ‖X vᵢ‖², so
/// that XᵀX ≈ Σᵢ eᵢ vᵢ vᵢᵀ. ‖ΔW X‖² = tr(ΔW XᵀX ΔWᵀ) is then ≈ ‖ΔW Vᵀ diag(√e)‖², which is what the
/// data-aware score and merge need (`DataAwareScore`, `RegMeanMerge`); the examples' tokens
/// themselves are not kept.
///
/// Made by `TaskInputSketcher` from one base-model forward pass over the examples; Codable (JSON,
/// the directions as base64 of little-endian Float32) so that it can be stored beside the task.
/// Construction and decoding check every count, width and value (finite, energies ≥ 0, names
/// unique; `ClusteringError.invalidArgument`), so a damaged file is refused with a clear error rather
/// than scored.
public struct TaskInputSketch: Sendable, Equatable {
    /// One input space: the linear maps that read it (canonical runtime names, e.g.
    /// `model.layers.0.self_attn.q_proj`, or the BERT `encoder.layer.0.attention.self.query`), the
    /// kept directions and their energies.
    public struct Space: Sendable, Equatable {
        public let modules: [String]
        /// d_in, the input features of the linear maps.
        public let width: Int
        /// k × width, row-major: orthonormal rows, the eigenvectors of XᵀX, by decreasing energy.
        public let directions: [Float]
        /// k eigenvalues of XᵀX (‖X vᵢ‖²), descending, ≥ 0.
        public let energies: [Double]
        /// ‖X‖²_F = tr(XᵀX), the energy of all directions including the dropped ones.
        public let totalEnergy: Double

        public init(modules: [String], width: Int, directions: [Float], energies: [Double],
                    totalEnergy: Double) throws(ClusteringError) {
            guard !modules.isEmpty, Set(modules).count == modules.count else {
                throw Self.invalid("an input space must name distinct linear maps, got \(modules)")
            }
            guard width >= 1 else { throw Self.invalid("input space of \(modules[0]) has width \(width)") }
            guard directions.count == energies.count * width else {
                throw Self.invalid("input space of \(modules[0]): \(directions.count) direction values for \(energies.count) directions of width \(width)")
            }
            guard directions.allSatisfy(\.isFinite), energies.allSatisfy({ $0.isFinite && $0 >= 0 }),
                  totalEnergy.isFinite, totalEnergy >= 0 else {
                throw Self.invalid("input space of \(modules[0]) has a non-finite or negative value")
            }
            self.modules = modules
            self.width = width
            self.directions = directions
            self.energies = energies
            self.totalEnergy = totalEnergy
        }

        /// k, the number of kept directions.
        public var count: Int { energies.count }

        /// The share of the input's energy the kept directions hold (1 for an all-zero input).
        public var keptShare: Double {
            totalEnergy > 0 ? min(1, energies.reduce(0, +) / totalEnergy) : 1
        }

        /// The sketch factor S (k × width, Double) with rows √eᵢ vᵢ, so that SᵀS ≈ XᵀX.
        public var scaledDirections: Matrix {
            var s = Matrix(zeros: count, width)
            for i in 0..<count {
                let root = energies[i].squareRoot()
                for j in 0..<width { s.elements[i * width + j] = root * Double(directions[i * width + j]) }
            }
            return s
        }

        static func invalid(_ message: String) -> ClusteringError {
            ClusteringError(.invalidArgument, "input sketch: " + message)
        }
    }

    public let spaces: [Space]
    /// Tokens the forward pass saw (rows of each X).
    public let tokens: Int
    /// Token sequences (examples) sketched.
    public let sequences: Int
    private let spaceIndex: [String: Int]

    /// Checks that no linear map appears in two spaces.
    public init(spaces: [Space], tokens: Int, sequences: Int) throws(ClusteringError) {
        guard tokens >= 0, sequences >= 0 else { throw Space.invalid("negative token or sequence count") }
        var index: [String: Int] = [:]
        for (i, space) in spaces.enumerated() {
            for module in space.modules {
                guard index[module] == nil else { throw Space.invalid("linear map '\(module)' appears in two input spaces") }
                index[module] = i
            }
        }
        self.spaces = spaces
        self.tokens = tokens
        self.sequences = sequences
        self.spaceIndex = index
    }

    /// The input space a linear map reads, by its runtime name or an adapter's module path for it
    /// (`bert.encoder…`, `layers.…`); nil when the sketch did not record it.
    public func space(forModule name: String) -> Space? {
        spaceIndex(forModule: name).map { spaces[$0] }
    }

    func spaceIndex(forModule name: String) -> Int? {
        spaceIndex[name] ?? spaceIndex[Self.canonical(name)]
    }

    /// The runtime's name for an adapter's module path, whatever the family: BERT's rule (drop
    /// `bert.`) and the decoders' (`layers.…` → `model.layers.…`) never apply to the same name.
    static func canonical(_ name: String) -> String {
        DecoderModel.canonicalLinearName(BertModel.canonicalLinearName(name))
    }

    /// Every linear map recorded, sorted.
    public var modules: [String] { spaceIndex.keys.sorted() }

    /// Bytes the directions and energies take (what storing the sketch costs, before encoding).
    public var byteSize: Int {
        spaces.reduce(0) { $0 + $1.directions.count * MemoryLayout<Float>.size + $1.count * MemoryLayout<Double>.size }
    }
}

extension TaskInputSketch: Codable {
    private enum CodingKeys: String, CodingKey { case format, tokens, sequences, spaces }
    private enum SpaceKeys: String, CodingKey { case modules, width, directions, energies, totalEnergy = "total_energy" }
    static let format = "adapterd-input-sketch-1"

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let format = try c.decode(String.self, forKey: .format)
        guard format == Self.format else {
            throw DecodingError.dataCorruptedError(forKey: .format, in: c,
                debugDescription: "input sketch format '\(format)' is not '\(Self.format)'")
        }
        var list = try c.nestedUnkeyedContainer(forKey: .spaces)
        var spaces: [Space] = []
        while !list.isAtEnd {
            let s = try list.nestedContainer(keyedBy: SpaceKeys.self)
            let encoded = try s.decode(String.self, forKey: .directions)
            guard let bytes = Data(base64Encoded: encoded), bytes.count % 4 == 0 else {
                throw DecodingError.dataCorruptedError(forKey: .directions, in: s,
                    debugDescription: "input sketch directions are not base64 of Float32 values")
            }
            let directions = bytes.withUnsafeBytes { raw in
                (0..<(bytes.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
            }
            spaces.append(try Space(
                modules: s.decode([String].self, forKey: .modules), width: s.decode(Int.self, forKey: .width),
                directions: directions, energies: s.decode([Double].self, forKey: .energies),
                totalEnergy: s.decode(Double.self, forKey: .totalEnergy)))
        }
        try self.init(spaces: spaces, tokens: c.decode(Int.self, forKey: .tokens),
                      sequences: c.decode(Int.self, forKey: .sequences))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Self.format, forKey: .format)
        try c.encode(tokens, forKey: .tokens)
        try c.encode(sequences, forKey: .sequences)
        var list = c.nestedUnkeyedContainer(forKey: .spaces)
        for space in spaces {
            var s = list.nestedContainer(keyedBy: SpaceKeys.self)
            try s.encode(space.modules, forKey: .modules)
            try s.encode(space.width, forKey: .width)
            var bytes = Data(capacity: space.directions.count * 4)
            for value in space.directions {
                withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
            }
            try s.encode(bytes.base64EncodedString(), forKey: .directions)
            try s.encode(space.energies, forKey: .energies)
            try s.encode(space.totalEnergy, forKey: .totalEnergy)
        }
    }
}
