/// The data-aware retention score of serving a task with a candidate adapter:
///
///     score = max(0, 1 − Σ_m ‖(ΔW_c,m − ΔW_t,m) X_t,m‖² / Σ_m ‖ΔW_t,m X_t,m‖²)
///
/// over the task's linear maps m, X_t,m the inputs the task's examples feed map m (tokens as columns):
/// the share of what the task's own update does to its examples' activations that the candidate
/// reproduces. Where the weight-space score (`WeightSpaceEvaluator`) weighs every direction of the
/// input space alike, this one weighs them by how much the examples use them.
///
/// Computed from the factors and the task's `TaskInputSketch` (X Xᵀ ≈ SᵀS, S = diag(√e)·V, k × d_in):
/// ‖ΔW X‖² ≈ ‖s·B·(A·Sᵀ)‖² — products of r × d_in by d_in × k and d_out × r by r × k, never an
/// out × in matrix. With every direction kept (k = rank X) it equals the dense computation.
///
/// Maps are matched by name (an adapter's module path or the runtime's name); a map present on one
/// side only counts as a zero update on the other. A map with a non-zero update that the sketch did
/// not record cannot be scored and is refused (`ClusteringError.evaluatorFailed`). In an input space
/// none of whose maps the task's adapter updates (recorded within a small cap of its own, so with few
/// or no directions kept), the energy of X the kept directions miss is taken as spread evenly over the
/// directions not kept: ‖ΔW X‖² ≈ ‖ΔW Sᵀ‖² + ρ·(‖ΔW‖² − ‖ΔW Vᵀ‖²), ρ = (‖X‖² − Σeᵢ) / (d_in − k), so a
/// candidate's update of such a map is never free; in the task's own spaces (kept to 0.999 of their
/// energy or to the cap) only the kept directions count. The task's own
/// adapter scores exactly 1; a candidate that changes nothing the examples see scores 0. When the
/// own update does nothing to the examples' activations at all, the score is 1 if the candidate
/// does nothing either, else 0 (as the weight-space score does for a zero update).
public enum DataAwareScore {
    /// Σ_m ‖(ΔW_c − ΔW_t) X‖² and Σ_m ‖ΔW_t X‖² of one scoring, and the score they give.
    public struct Breakdown: Sendable, Hashable {
        /// Σ_m ‖(ΔW_candidate − ΔW_own) X‖²: what the candidate gets wrong on the examples.
        public let lost: Double
        /// Σ_m ‖ΔW_own X‖²: what the own update does to them.
        public let own: Double
        /// Σ_m ‖ΔW_candidate X‖².
        public let candidate: Double

        public var score: Double {
            guard own > 0 else { return candidate > 0 ? 0 : 1 }
            return max(0, 1 - lost / own)
        }
    }

    /// The score of serving the task whose own adapter is `own` and inputs `sketch` with `candidate`.
    public static func score(own: LoRAAdapter, candidate: LoRAAdapter, sketch: TaskInputSketch) throws -> Double {
        try Reference(own: own, sketch: sketch).breakdown(candidate).score
    }

    /// A task's side of the score, prepared once and reused for every candidate: per input space the
    /// sketch factor S (k × d_in, Double), and per linear map the own update's s·B·(A·Sᵀ) (d_out × k).
    public struct Reference: Sendable {
        public let sketch: TaskInputSketch
        /// S of each space, by the space's index.
        private let factors: [Matrix]
        /// s·B·(A·Sᵀ) of the own adapter's maps, by canonical name.
        private let ownImages: [String: Matrix]
        /// The own adapter's non-zero maps in its module order (sums over them repeat `ownEnergy` exactly).
        private let ownNames: [String]
        /// Σ_m ‖ΔW_own X‖².
        public let ownEnergy: Double
        /// For each space none of whose maps the own adapter updates: its kept directions V (k × d_in,
        /// unscaled) and ρ, the energy per direction not kept.
        private let residuals: [Int: (directions: Matrix, perDirection: Double)]

        public init(own: LoRAAdapter, sketch: TaskInputSketch) throws {
            self.sketch = sketch
            factors = sketch.spaces.map(\.scaledDirections)
            var images: [String: Matrix] = [:]
            var names: [String] = []
            var energy = 0.0
            for module in own.modules where !Self.isZero(module) {
                let name = TaskInputSketch.canonical(module.name)
                guard images[name] == nil else {
                    throw ClusteringError(.invalidArgument, "the task's adapter names linear map '\(name)' twice")
                }
                let image = try Self.image(module, factor: Self.factor(name, width: module.inFeatures, sketch, factors))
                energy += image.frobeniusNormSquared
                images[name] = image
                names.append(name)
            }
            ownImages = images
            ownNames = names
            ownEnergy = energy
            let read = Set(names.compactMap { sketch.spaceIndex(forModule: $0) })
            var residuals: [Int: (directions: Matrix, perDirection: Double)] = [:]
            for (index, space) in sketch.spaces.enumerated() where !read.contains(index) {
                let missing = max(0, space.totalEnergy - space.energies.reduce(0, +))
                let perDirection = space.width > space.count ? missing / Double(space.width - space.count) : 0
                residuals[index] = (Matrix(rows: space.count, cols: space.width, elements: space.directions.map(Double.init)),
                                    perDirection)
            }
            self.residuals = residuals
        }

        /// The candidate's `Breakdown` against this task.
        public func breakdown(_ candidate: LoRAAdapter) throws -> Breakdown {
            var lost = 0.0
            var candidateEnergy = 0.0
            var matched: Set<String> = []
            for module in candidate.modules {
                let name = TaskInputSketch.canonical(module.name)
                guard !Self.isZero(module) else { continue }
                let image = try Self.image(module, factor: Self.factor(name, width: module.inFeatures, sketch, factors))
                candidateEnergy += image.frobeniusNormSquared
                if let space = sketch.spaceIndex(forModule: name), let residual = residuals[space] {
                    // A space the own adapter does not read: its update is all lost, the directions
                    // not kept included.
                    let missed = residual.perDirection * (try Self.energyOutside(module, residual.directions))
                    lost += image.frobeniusNormSquared + missed
                    candidateEnergy += missed
                } else if let own = ownImages[name] {
                    guard own.rows == image.rows, own.cols == image.cols else {
                        throw ClusteringError(.profileMismatch,
                            "module '\(module.name)' maps to \(image.rows) features in the candidate but \(own.rows) in the task's adapter")
                    }
                    matched.insert(name)
                    var sum = 0.0
                    own.elements.withUnsafeBufferPointer { o in
                        image.elements.withUnsafeBufferPointer { c in
                            for i in 0..<o.count {
                                let d = c[i] - o[i]
                                sum += d * d
                            }
                        }
                    }
                    lost += sum
                } else {
                    lost += image.frobeniusNormSquared
                }
            }
            for name in ownNames where !matched.contains(name) {
                lost += ownImages[name]?.frobeniusNormSquared ?? 0
            }
            return Breakdown(lost: lost, own: ownEnergy, candidate: candidateEnergy)
        }

        static func factor(_ name: String, width: Int, _ sketch: TaskInputSketch, _ factors: [Matrix]) throws -> Matrix {
            guard let index = sketch.spaceIndex(forModule: name) else {
                throw ClusteringError(.evaluatorFailed,
                    "the task's input sketch has no inputs of linear map '\(name)' (it recorded \(sketch.modules.count) maps)")
            }
            guard sketch.spaces[index].width == width else {
                throw ClusteringError(.profileMismatch,
                    "linear map '\(name)' reads \(width) features but the task's input sketch recorded \(sketch.spaces[index].width)")
            }
            return factors[index]
        }

        /// s·B·(A·Sᵀ), d_out × k: the module's update applied to the sketch's directions.
        static func image(_ module: LoRAModule, factor: Matrix) throws -> Matrix {
            let projected = module.a.multiplied(by: factor, transposeOther: true)  // r × k
            return module.b.multiplied(by: projected, alpha: module.scale)         // d_out × k
        }

        /// ‖ΔW‖² − ‖ΔW Vᵀ‖² of a module: its update's energy outside the rows of `directions`
        /// (orthonormal, k × d_in): ‖ΔW‖² from the r × r Grams (`FactoredUpdates`), ‖ΔW Vᵀ‖² as `image`.
        static func energyOutside(_ module: LoRAModule, _ directions: Matrix) throws -> Double {
            let inside = directions.rows == 0 ? 0 : try image(module, factor: directions).frobeniusNormSquared
            return max(0, FactoredUpdates.inner(module, module) - inside)
        }

        /// A module that changes nothing (a zero factor or scale, as module-union padding makes).
        static func isZero(_ module: LoRAModule) -> Bool {
            module.scale == 0 || module.factorA.isZero || module.factorB.isZero
        }
    }
}
