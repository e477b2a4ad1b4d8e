import COpenBLAS

/// The data-aware merge of a cluster (RegMean-style): for each linear map, the update that best
/// reproduces what every member's own update does to that member's examples,
///
///     ΔW* = argmin_ΔW Σ_t ω_t (‖(ΔW − ΔW_t) X_t‖² + λ_t ‖ΔW − ΔW_t‖²_F)
///         = (Σ_t ω_t ΔW_t (G_t + λ_t I)) (Σ_t ω_t (G_t + λ_t I))⁻¹,   G_t = X_t X_tᵀ ≈ S_tᵀ S_t,
///
/// then the best rank-r approximation *under the same objective* (not in plain Frobenius norm). G_t
/// comes from the member's `TaskInputSketch`; the ridge λ_t = ρ·‖X_t‖²/d_in (ρ times the mean eigenvalue
/// of G_t) makes the system invertible and pulls directions the examples never visit towards the plain
/// weighted mean, so with equal G_t the merge is exactly Σ ω_t ΔW_t / Σ ω_t (the SVD merge's sum
/// before truncation) and a single member gets its own update back.
///
/// Computed without any out × in or in × in matrix: with Q (in × p) an orthonormal basis of the rows
/// of every Aₜ and Sₜ (p ≤ Σ rₜ + Σ kₜ), ΔW* = B̂ Ĉ K⁻¹ Qᵀ where B̂ = [B₁ … Bₙ], Cₜ = ωₜsₜ(âₜŵₜᵀŵₜ + λₜâₜ),
/// âₜ = AₜQ, ŵₜ = SₜQ and K = Σ ωₜ(ŵₜᵀŵₜ + λₜI) (p × p). With K = RᵀR (Cholesky), the objective is
/// ‖(ΔW − ΔW*) Q Rᵀ‖² + ρ-terms outside Q, so the rank-r optimum is the truncated SVD of B̂ Ĉ R⁻¹
/// (through the QR of B̂), mapped back by R⁻ᵀ Qᵀ. Cost per map: a QR of in × (Σr + Σk), a Cholesky of
/// p × p, an SVD of (Σr) × p — when Σr + Σk ≥ in, p = in and this is a dense in × in solve (MiniLM,
/// in = 384: ~10⁷ operations).
public enum RegMeanMerge {
    /// How each member's objective is weighted.
    public enum Weighting: String, Sendable, Hashable, CaseIterable {
        /// ω_t = the merge weight given (uniform 1/n by default): RegMean.
        case asGiven
        /// ω_t = weight / E_t with E_t = Σ_m (‖ΔW_t X_t‖² + λ_t‖ΔW_t‖²), the member's own regularised
        /// energy, so that each member's *relative* error counts alike — what the mean data-aware
        /// score measures (the analogue of `MergeWeighting.inverseSquaredNorm`).
        case relative
    }

    /// Parameters of the merge.
    public struct Options: Sendable, Hashable {
        /// ρ ≥ 0: λ_t = ρ·‖X_t‖²/d_in. 0 is pure RegMean (fails where the examples leave the system singular).
        public var ridge: Double
        public var weighting: Weighting

        public init(ridge: Double = 0.1, weighting: Weighting = .asGiven) {
            self.ridge = ridge
            self.weighting = weighting
        }
    }

    /// One member's part in the merge of one linear map.
    public struct Term: Sendable {
        /// The member's update; nil when it does not adapt the map (a zero update it wants kept).
        public let update: LowRankUpdate?
        /// S (k × in) with X Xᵀ ≈ SᵀS (`TaskInputSketch.Space.scaledDirections`).
        public let inputs: Matrix
        /// λ ≥ 0.
        public let ridge: Double
        /// ω ≥ 0.
        public let weight: Double

        public init(update: LowRankUpdate?, inputs: Matrix, ridge: Double, weight: Double) {
            self.update = update
            self.inputs = inputs
            self.ridge = ridge
            self.weight = weight
        }
    }

    /// Merges adapters of one base model with their members' input sketches (one per adapter, in
    /// order) at `rank`; every module of the result has exactly that rank (zero-padded), scale 1, and
    /// the configuration `AdapterMerger` gives an SVD merge, so its size is what the budget planner
    /// predicts. Weights must be finite, ≥ 0 and not all 0.
    public static func merge(
        _ adapters: [LoRAAdapter], sketches: [TaskInputSketch], weights: [Double], rank: Int,
        options: Options = Options(), storageDType: DType = .f16
    ) throws -> LoRAAdapter {
        try AdapterMerger.validate(adapters, weights: weights, method: .svd(rank: rank))
        guard sketches.count == adapters.count else {
            throw MergeError(.invalidParameter, "\(adapters.count) adapters but \(sketches.count) input sketches")
        }
        guard weights.allSatisfy({ $0 >= 0 }), weights.contains(where: { $0 > 0 }) else {
            throw MergeError(.invalidWeights, "data-aware merge weights must be ≥ 0 and not all 0, got \(weights)")
        }
        guard options.ridge >= 0, options.ridge.isFinite else {
            throw MergeError(.invalidParameter, "ridge \(options.ridge) must be a finite number ≥ 0")
        }
        let units = try AdapterMerger.mergeUnits(adapters)
        // Per unit and member: the update, the sketch factor and the ridge.
        var parts: [[(update: LowRankUpdate?, inputs: Matrix, ridge: Double)]] = []
        for unit in units {
            var unitParts: [(LowRankUpdate?, Matrix, Double)] = []
            for (i, adapter) in adapters.enumerated() {
                guard let space = sketches[i].space(forModule: unit.name) else {
                    throw MergeError(.invalidParameter,
                        "the input sketch of adapter \(i) has no inputs of module '\(unit.name)'")
                }
                guard space.width == unit.inFeatures else {
                    throw MergeError(.shapeMismatch,
                        "module '\(unit.name)' reads \(unit.inFeatures) features but adapter \(i)'s input sketch recorded \(space.width)")
                }
                let update = try AdapterMerger.update(of: unit, in: adapter)
                unitParts.append((update, space.scaledDirections, options.ridge * space.totalEnergy / Double(space.width)))
            }
            if options.ridge > 0, unitParts.allSatisfy({ $0.2 == 0 }) {
                // No member's examples reach this map: the plain weighted mean (any equal λ).
                unitParts = unitParts.map { ($0.0, $0.1, options.ridge) }
            }
            parts.append(unitParts)
        }
        var omega = weights
        if options.weighting == .relative {
            var energies = [Double](repeating: 0, count: adapters.count)
            for unitParts in parts {
                for (i, part) in unitParts.enumerated() {
                    guard let u = part.update, u.rank > 0 else { continue }
                    let image = u.b.multiplied(by: u.a.multiplied(by: part.inputs, transposeOther: true), alpha: u.scale)
                    energies[i] += image.frobeniusNormSquared + part.ridge * LowRank.frobeniusNormSquared(of: u)
                }
            }
            let positive = energies.filter { $0 > 0 }
            let fallback = positive.isEmpty ? 1 : positive.reduce(0, +) / Double(positive.count)
            omega = zip(weights, energies).map { $0 / ($1 > 0 ? $1 : fallback) }
        }
        var modules: [LoRAModule] = []
        var bytes = 0
        for (unit, unitParts) in zip(units, parts) {
            let terms = zip(unitParts, omega).map { Term(update: $0.0.update, inputs: $0.0.inputs, ridge: $0.0.ridge, weight: $0.1) }
            let merged: LowRankUpdate
            do {
                merged = try mergeModule(terms, outFeatures: unit.outFeatures, inFeatures: unit.inFeatures, rank: rank)
            } catch let error as LinearAlgebraError {
                throw MergeError(.computation, "merging module '\(unit.name)' with its inputs: \(error.message)")
            }
            modules += unit.modules(of: merged, rank: rank)
            bytes += unit.storedBytes(rank: rank, dtype: storageDType)
        }
        return AdapterMerger.mergedAdapter(of: adapters, modules: modules, rank: rank, storageDType: storageDType,
                                           bytes: bytes)
    }

    /// The merged update of one linear map at `rank` (B out × rank, A rank × in, scale 1; zero-padded
    /// where fewer directions exist). Throws `LinearAlgebraError` when the system is singular (ρ = 0
    /// and inputs that do not span the updates' rows) or a value is not finite.
    public static func mergeModule(_ terms: [Term], outFeatures: Int, inFeatures: Int, rank: Int) throws -> LowRankUpdate {
        guard rank >= 0 else { throw LinearAlgebraError(.invalidArgument, "target rank \(rank) is negative") }
        for (i, term) in terms.enumerated() {
            guard term.inputs.cols == inFeatures else {
                throw LinearAlgebraError(.shapeMismatch, "term \(i)'s inputs have \(term.inputs.cols) features, the map reads \(inFeatures)")
            }
            if let u = term.update, u.outFeatures != outFeatures || u.inFeatures != inFeatures {
                throw LinearAlgebraError(.shapeMismatch,
                    "term \(i)'s update maps \(u.inFeatures)→\(u.outFeatures), the map \(inFeatures)→\(outFeatures)")
            }
            guard term.weight.isFinite, term.weight >= 0, term.ridge.isFinite, term.ridge >= 0 else {
                throw LinearAlgebraError(.invalidArgument, "term \(i) has weight \(term.weight) and ridge \(term.ridge); both must be finite and ≥ 0")
            }
        }
        let zero = LowRankUpdate(unchecked: Matrix(zeros: outFeatures, rank), Matrix(zeros: rank, inFeatures), 1)
        let updates = terms.map { $0.update.flatMap { $0.rank > 0 ? $0 : nil } }
        let totalRank = updates.reduce(0) { $0 + ($1?.rank ?? 0) }
        guard totalRank > 0, rank > 0, outFeatures > 0, inFeatures > 0 else { return zero }

        // Q: an orthonormal basis (rows of qt, p × in) of every Aₜ's and Sₜ's rows.
        let stackedRows = totalRank + terms.reduce(0) { $0 + $1.inputs.rows }
        var z = Matrix(zeros: stackedRows, inFeatures)
        var row = 0
        for u in updates.compactMap({ $0 }) {
            z.elements.replaceSubrange((row * inFeatures)..<((row + u.rank) * inFeatures), with: u.a.elements)
            row += u.rank
        }
        for term in terms where term.inputs.rows > 0 {
            z.elements.replaceSubrange((row * inFeatures)..<((row + term.inputs.rows) * inFeatures), with: term.inputs.elements)
            row += term.inputs.rows
        }
        let qt = try LAPACK.thinQR(ofTransposeOf: z).qTransposed
        let p = qt.rows

        // K = Σ ωₜ(ŵₜᵀŵₜ + λₜI) and Ĉ (R × p), B̂ (out × R).
        var k = Matrix(zeros: p, p)
        var ridgeSum = 0.0
        var bHat = Matrix(zeros: outFeatures, totalRank)
        var cHat = Matrix(zeros: totalRank, p)
        var offset = 0
        for (term, update) in zip(terms, updates) where term.weight > 0 {
            let w = term.inputs.rows > 0 ? term.inputs.multiplied(by: qt, transposeOther: true) : Matrix(zeros: 0, p)  // k × p
            if w.rows > 0 {
                let gram = w.multiplied(by: w, transposeSelf: true, alpha: term.weight)
                for i in 0..<(p * p) { k.elements[i] += gram.elements[i] }
            }
            ridgeSum += term.weight * term.ridge
            guard let u = update else { continue }
            let a = u.a.multiplied(by: qt, transposeOther: true)  // r × p
            var c = a.scaled(term.weight * u.scale * term.ridge)
            if w.rows > 0 {
                let through = a.multiplied(by: w, transposeOther: true).multiplied(by: w, alpha: term.weight * u.scale)  // r × p
                for i in c.elements.indices { c.elements[i] += through.elements[i] }
            }
            for i in 0..<outFeatures {
                for j in 0..<u.rank { bHat.elements[i * totalRank + offset + j] = u.b.elements[i * u.rank + j] }
            }
            cHat.elements.replaceSubrange((offset * p)..<((offset + u.rank) * p), with: c.elements)
            offset += u.rank
        }
        for i in 0..<p { k.elements[i * p + i] += ridgeSum }
        // A pivot below 1e-12 of the largest diagonal entry counts as singular: rounding can let
        // dpotrf through a positive semi-definite K whose factor would then be noise.
        let largest = (0..<p).reduce(0.0) { max($0, k.elements[$1 * p + $1]) }
        guard let r = try LAPACK.cholesky(k),
              (0..<p).allSatisfy({ r.elements[$0 * p + $0] * r.elements[$0 * p + $0] > 1e-12 * largest }) else {
            throw LinearAlgebraError(.invalidArgument,
                "the members' inputs do not determine the merge (singular system); a ridge above 0 is needed")
        }
        // F = Ĉ R⁻¹ (R × p): the merge's target in coordinates where the objective is the Frobenius norm.
        let f = solveRight(cHat, upper: r, transposed: false)
        let (qB, rB) = try LAPACK.thinQR(bHat)  // out × q, q × R
        let svd = try LAPACK.svd(rB.multiplied(by: f))  // U q × m, Vᵀ m × p
        let kept = min(rank, svd.singularValues.count)
        var us = Matrix(zeros: qB.cols, rank)
        var vt = Matrix(zeros: rank, p)
        for j in 0..<kept {
            for i in 0..<qB.cols { us.elements[i * rank + j] = svd.u.elements[i * svd.u.cols + j] * svd.singularValues[j] }
            for c in 0..<p { vt.elements[j * p + c] = svd.vt.elements[j * p + c] }
        }
        // Back to the map's coordinates: A' = Vₖᵀ R⁻ᵀ Qᵀ.
        let a = solveRight(vt, upper: r, transposed: true).multiplied(by: qt)
        return LowRankUpdate(unchecked: qB.multiplied(by: us), a, 1)
    }

    /// X·U⁻¹ (or X·U⁻ᵀ) for an upper-triangular U (n × n) and X (m × n), by dtrsm.
    static func solveRight(_ x: Matrix, upper u: Matrix, transposed: Bool) -> Matrix {
        var result = x
        guard x.rows > 0, x.cols > 0 else { return result }
        u.elements.withUnsafeBufferPointer { up in
            result.elements.withUnsafeMutableBufferPointer { xp in
                cblas_dtrsm(CblasRowMajor, CblasRight, CblasUpper, transposed ? CblasTrans : CblasNoTrans, CblasNonUnit,
                            Int32(x.rows), Int32(x.cols), 1, up.baseAddress, Int32(u.cols), xp.baseAddress, Int32(x.cols))
            }
        }
        return result
    }
}
