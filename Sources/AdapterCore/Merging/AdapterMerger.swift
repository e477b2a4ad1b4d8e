/// Merges LoRA adapters of one base model into one adapter, module by module, with a `MergeMethod`.
///
/// - Adapters must share `base_model_name_or_path` and architecture, and every module name present in
///   two adapters must have the same shapes; otherwise the merge is refused with a `MergeError`.
/// - A module present in only some adapters is merged as if it were zero in the others (as PEFT does).
/// - Parts of a fused projection (`c_attn#q`, `#k`, `#v`, sharing one A) are merged as one fused ΔW and
///   split again afterwards, so the result still shares A and can be written back fused.
/// - The result has scale 1 in every module: config r = lora_alpha = the merged rank, `use_rslora` off,
///   no rank/alpha patterns, target modules the union of the inputs'. Every module has the same rank
///   (k for svd/ties/dare, Σᵢ max-rankᵢ for cat), zero-padded where fewer directions exist or, for cat,
///   where a module is missing from an adapter or has a smaller rank there (rank_pattern).
public enum AdapterMerger {
    /// Merges `adapters` with `weights` (one per adapter, any sign). `storageDType` only sets the
    /// result's `storageDType`/`tensorBytes` (the size it will have on disk).
    ///
    /// `unitGrams` (svd only) gives, by unit name, the Grams B̂ᵀB̂ and ÂÂᵀ of that unit's updates stacked in
    /// adapter order when the caller keeps them (`SVDClusterMerger.merge(_:weights:rank:grams:members:)`).
    public static func merge(
        _ adapters: [LoRAAdapter], weights: [Double], method: MergeMethod, storageDType: DType = .f16
    ) throws -> LoRAAdapter {
        try merge(adapters, weights: weights, method: method, storageDType: storageDType, unitGrams: nil)
    }

    /// `unitTruncations` (svd only) gives, by unit name, the truncation factors a rank curve computed from
    /// the same Grams at a rank ≥ the merge's (`RankQualityCurve.computeKeepingTruncations`), from which the
    /// unit's truncation is written without factoring its core again.
    static func merge(
        _ adapters: [LoRAAdapter], weights: [Double], method: MergeMethod, storageDType: DType,
        unitGrams: ((String) -> (columns: Matrix, rows: Matrix)?)?,
        unitTruncations: ((String) -> TruncationFactors?)? = nil
    ) throws -> LoRAAdapter {
        try validate(adapters, weights: weights, method: method)
        let units = try mergeUnits(adapters)
        let outputRank: Int
        switch method {
        case .svd(let rank), .ties(_, let rank, _), .dare(_, let rank, _): outputRank = rank
        case .cat:
            outputRank = adapters.reduce(0) { $0 + ($1.modules.map(\.rank).max() ?? 0) }
        }
        // The units on `ComputeThreads` threads; a plan being cancelled (a daemon's background plan)
        // stops within one unit.
        let merged = try ParallelLoop.map(units.count) { u in
            let truncation = unitTruncations?(units[u].name)
            return try mergeUnit(units[u], adapters: adapters, weights: weights, method: method, rank: outputRank,
                                 grams: truncation == nil ? unitGrams?(units[u].name) : nil, truncation: truncation)
        }
        var modules: [LoRAModule] = []
        var bytes = 0
        for (unit, update) in zip(units, merged) {
            modules += unit.modules(of: update, rank: outputRank)
            bytes += unit.storedBytes(rank: outputRank, dtype: storageDType)
        }
        return mergedAdapter(of: adapters, modules: modules, rank: outputRank, storageDType: storageDType, bytes: bytes)
    }

    /// The merged adapter of `adapters` made of `modules` at `rank` (alpha = rank, so scale 1): the
    /// first adapter's base model, architecture and layout, the union of their target modules.
    static func mergedAdapter(of adapters: [LoRAAdapter], modules: [LoRAModule], rank: Int, storageDType: DType,
                              bytes: Int) -> LoRAAdapter {
        let first = adapters[0].config
        let targets = Set(adapters.flatMap { $0.config.targetModules }).sorted()
        let config = PEFTConfig(
            peftType: "LORA", baseModelNameOrPath: first.baseModelNameOrPath, r: rank,
            loraAlpha: Double(rank), useRSLoRA: false, fanInFanOut: first.fanInFanOut,
            targetModules: targets, rankPattern: [:], alphaPattern: [:], taskType: first.taskType)
        return LoRAAdapter(
            config: config, modules: modules, architecture: adapters[0].architecture,
            storageDType: storageDType, tensorBytes: bytes)
    }

    // MARK: - Merge units (a module, or the parts of one fused module)

    struct Part {
        let name: String
        let layer: Int?
        let projection: Projection?
        let outFeatures: Int
    }

    struct Unit {
        let name: String
        var parts: [Part]
        let inFeatures: Int
        var outFeatures: Int { parts.reduce(0) { $0 + $1.outFeatures } }

        /// The unit's merged update split back into its parts' modules (B's rows in part order, A shared).
        func modules(of merged: LowRankUpdate, rank: Int) -> [LoRAModule] {
            var modules: [LoRAModule] = []
            var rowOffset = 0
            for part in parts {
                let rows = Array(merged.b.elements[(rowOffset * rank)..<((rowOffset + part.outFeatures) * rank)])
                modules.append(LoRAModule(
                    name: part.name, layer: part.layer, projection: part.projection, a: merged.a,
                    b: Matrix(rows: part.outFeatures, cols: rank, elements: rows), scale: 1))
                rowOffset += part.outFeatures
            }
            return modules
        }

        /// Bytes of the unit's factors at `rank` stored as `dtype`.
        func storedBytes(rank: Int, dtype: DType) -> Int {
            (rank * inFeatures + outFeatures * rank) * dtype.byteSize
        }
    }

    /// The unit a module belongs to: its name up to a `#` part suffix.
    static func unitName(_ moduleName: String) -> String {
        if let hash = moduleName.firstIndex(of: "#") { return String(moduleName[..<hash]) }
        return moduleName
    }

    static func mergeUnits(_ adapters: [LoRAAdapter]) throws -> [Unit] {
        var units: [Unit] = []
        var index: [String: Int] = [:]
        for adapter in adapters {
            var seen: [String: [Part]] = [:]
            var order: [String] = []
            var inWidth: [String: Int] = [:]
            for module in adapter.modules {
                let key = unitName(module.name)
                if seen[key] == nil { order.append(key) }
                seen[key, default: []].append(Part(
                    name: module.name, layer: module.layer, projection: module.projection,
                    outFeatures: module.outFeatures))
                if let w = inWidth[key], w != module.inFeatures {
                    throw MergeError(.shapeMismatch, "parts of fused module '\(key)' have different input widths")
                }
                inWidth[key] = module.inFeatures
            }
            for key in order {
                let parts = seen[key] ?? []
                let inFeatures = inWidth[key] ?? 0
                if let existing = index[key] {
                    let unit = units[existing]
                    let same = unit.inFeatures == inFeatures && unit.parts.count == parts.count
                        && zip(unit.parts, parts).allSatisfy { $0.name == $1.name && $0.outFeatures == $1.outFeatures }
                    guard same else {
                        throw MergeError(
                            .shapeMismatch,
                            "module '\(key)' has shape \(describe(unit.parts, unit.inFeatures)) in one adapter "
                                + "and \(describe(parts, inFeatures)) in another; only adapters with matching "
                                + "module shapes can be merged")
                    }
                } else {
                    index[key] = units.count
                    units.append(Unit(name: key, parts: parts, inFeatures: inFeatures))
                }
            }
        }
        return units
    }

    private static func describe(_ parts: [Part], _ inFeatures: Int) -> String {
        let outs = parts.map { "\($0.outFeatures)" }.joined(separator: "+")
        return "\(inFeatures)→\(outs)"
    }

    /// One adapter's fused update for a unit, or nil if the adapter lacks it.
    static func update(of unit: Unit, in adapter: LoRAAdapter) throws -> LowRankUpdate? {
        let parts = unit.parts.compactMap { part in adapter.modules.first { $0.name == part.name } }
        guard let first = parts.first else { return nil }
        if parts.count == 1 { return first.update }
        guard parts.allSatisfy({ $0.factorA == first.factorA && $0.scale == first.scale }) else {
            throw MergeError(
                .shapeMismatch, "the parts of fused module '\(unit.name)' do not share lora_A and scale")
        }
        let rank = first.rank
        var b = Matrix(zeros: unit.outFeatures, rank)
        var row = 0
        for part in parts {
            let partB = part.b
            for i in 0..<part.outFeatures {
                for j in 0..<rank { b.elements[(row + i) * rank + j] = partB.elements[i * rank + j] }
            }
            row += part.outFeatures
        }
        return LowRankUpdate(unchecked: b, first.a, first.scale)
    }

    // MARK: - Methods on one unit

    static func mergeUnit(
        _ unit: Unit, adapters: [LoRAAdapter], weights: [Double], method: MergeMethod, rank: Int,
        grams: (columns: Matrix, rows: Matrix)? = nil, truncation: TruncationFactors? = nil
    ) throws -> LowRankUpdate {
        var present: [LowRankUpdate] = []
        var presentWeights: [Double] = []
        var presentIndices: [Int] = []
        var allUpdates: [LowRankUpdate?] = []
        for (i, adapter) in adapters.enumerated() {
            let u = try update(of: unit, in: adapter)
            allUpdates.append(u)
            if let u {
                present.append(u)
                presentWeights.append(weights[i])
                presentIndices.append(i)
            }
        }
        do {
            switch method {
            case .svd:
                // Grams and truncation factors stack every adapter's update: usable only when the unit is in
                // every one.
                let everyOne = present.count == adapters.count
                if everyOne, let truncation, truncation.b.rows == present.reduce(0, { $0 + $1.rank }) {
                    return LowRank.truncation(.members(present), factors: truncation, rank: rank)
                }
                let kept = everyOne ? grams : nil
                return try LowRank.truncatedWeightedSum(present, weights: presentWeights, rank: rank, grams: kept).update
            case .cat:
                return try concatenate(allUpdates, adapters: adapters, weights: weights, unit: unit, rank: rank)
            case .ties(let density, _, let majoritySign):
                let dense = ElementwiseMerge.ties(
                    present.map(DenseReference.deltaW), weights: presentWeights, density: density,
                    majoritySign: majoritySign)
                return try DenseReference.truncatedSVD(dense, rank: rank).update
            case .dare(let p, _, let seed):
                let seeds = presentIndices.map { SeededGenerator.derivedSeed(seed, unit.name, $0) }
                let dense = ElementwiseMerge.dare(
                    present.map(DenseReference.deltaW), weights: presentWeights, dropProbability: p, seeds: seeds)
                return try DenseReference.truncatedSVD(dense, rank: rank).update
            }
        } catch let error as LinearAlgebraError {
            throw MergeError(.computation, "merging module '\(unit.name)': \(error.message)")
        }
    }

    /// cat: the present adapters' blocks follow each other (offset advances by each module's own rank),
    /// as in PEFT; A rows carry wᵢsᵢ; the rank slots past the last block stay zero.
    static func concatenate(
        _ updates: [LowRankUpdate?], adapters: [LoRAAdapter], weights: [Double], unit: Unit, rank: Int
    ) throws -> LowRankUpdate {
        let present = adapters.indices.compactMap { i in updates[i].map { (update: $0, weight: weights[i]) } }
        let (b, a) = LowRank.stackedFactors(present, out: unit.outFeatures, inn: unit.inFeatures, width: rank,
                                            weighted: .a)
        return LowRankUpdate(unchecked: b, a, 1)
    }

    // MARK: - Validation

    static func validate(_ adapters: [LoRAAdapter], weights: [Double], method: MergeMethod) throws {
        guard let first = adapters.first else { throw MergeError(.noAdapters, "no adapters to merge") }
        guard weights.count == adapters.count else {
            throw MergeError(.invalidWeights, "\(adapters.count) adapters but \(weights.count) weights")
        }
        if let bad = weights.first(where: { !$0.isFinite }) {
            throw MergeError(.invalidWeights, "merge weight \(bad) is not a finite number")
        }
        for adapter in adapters.dropFirst() {
            guard adapter.config.baseModelNameOrPath == first.config.baseModelNameOrPath else {
                throw MergeError(
                    .baseModelMismatch,
                    "adapters for different base models cannot be merged: "
                        + "'\(first.config.baseModelNameOrPath ?? "unknown")' and "
                        + "'\(adapter.config.baseModelNameOrPath ?? "unknown")'")
            }
            guard adapter.architecture == first.architecture else {
                throw MergeError(
                    .baseModelMismatch,
                    "adapters of different architectures cannot be merged: \(first.architecture.rawValue) "
                        + "and \(adapter.architecture.rawValue)")
            }
        }
        switch method {
        case .cat:
            break
        case .svd(let rank):
            try requireRank(rank)
        case .ties(let density, let rank, _):
            try requireRank(rank)
            guard density >= 0, density <= 1 else {
                throw MergeError(.invalidParameter, "TIES density \(density) must lie in [0, 1]")
            }
        case .dare(let p, let rank, _):
            try requireRank(rank)
            guard p >= 0, p < 1 else {
                throw MergeError(.invalidParameter, "DARE drop probability \(p) must lie in [0, 1)")
            }
        }
    }

    private static func requireRank(_ rank: Int) throws {
        guard rank >= 1 else { throw MergeError(.invalidParameter, "merge rank \(rank) must be at least 1") }
    }
}
