import Foundation

/// An adapter's feature vector for one feature set, with what the detector needs to place it.
public struct DetectorFeatures: Sendable, Equatable {
    public var names: [String]
    public var values: [Double]
    public var profile: AdapterProfile
    /// The adapter's configured LoRA rank (`r`), used to pick its benign-bank group.
    public var rank: Int
    /// Observations worth reporting (e.g. the token the adapter reacts to most).
    public var notes: [String]

    public init(names: [String], values: [Double], profile: AdapterProfile, rank: Int, notes: [String] = []) {
        self.names = names
        self.values = values
        self.profile = profile
        self.rank = rank
        self.notes = notes
    }
}

/// Computes `DetectorFeatures` of an adapter for a feature set. Spectral statistics come from the
/// adapter's signature and its per-layer table (`SignatureExtractor`);
/// token-response features need a `TokenEmbeddingTable` of the adapter's base model.
public struct DetectorFeatureExtractor: Sendable {
    public let featureSet: DetectorFeatureSet
    /// Embedding tables by profile-independent width and architecture; the one matching an adapter's
    /// Q/K/V input width and architecture is used.
    public let tokenTables: [TokenEmbeddingTable]

    public init(featureSet: DetectorFeatureSet, tokenTables: [TokenEmbeddingTable] = []) {
        self.featureSet = featureSet
        self.tokenTables = tokenTables
    }

    static let statNames = SpectralStatistics.names
    static let projections = Projection.allCases

    /// The feature names of a feature set, in value order.
    public static func names(for featureSet: DetectorFeatureSet) -> [String] {
        var names: [String] = []
        if featureSet == .baseline { return AdapterSignature.featureNames }
        if featureSet.includesSpectral {
            for p in projections {
                for part in ["early", "middle", "late", "max"] {
                    for s in statNames { names.append("\(p.rawValue).\(part).\(s)") }
                }
            }
            for p in projections { names.append("\(p.rawValue).energy_share") }
        }
        if featureSet.includesTokenResponse { names += TokenResponseFeatures.names }
        if featureSet.includesAlignment { names += TokenAlignmentFeatures.names }
        return names
    }

    /// The table for an adapter's profile, if one was provided.
    public func table(for profile: AdapterProfile) -> TokenEmbeddingTable? {
        tokenTables.first { $0.hiddenSize == profile.hiddenSize && $0.architecture == profile.architecture }
    }

    /// Extracts the features. Throws `DetectorError(.outOfDistribution)` when the adapter has no attention
    /// modules, and `.missingBaseModel` when the feature set needs embeddings that were not provided.
    public func extract(_ adapter: LoRAAdapter) throws -> DetectorFeatures {
        let profile = AdapterProfile(adapter: adapter)
        let attention = adapter.modules.filter { $0.projection != nil }
        guard !attention.isEmpty else {
            throw DetectorError(.outOfDistribution, "the adapter adapts no attention projection (q, k, v, o)")
        }
        // Per-module statistics (the signature's per-layer table).
        let signature: AdapterSignature
        do {
            signature = try SignatureExtractor.signature(of: adapter)
        } catch {
            throw DetectorError(.outOfDistribution, "the spectral signature could not be computed: \(error)")
        }
        let perModule = signature.modules.map { m in
            (projection: m.projection, layer: m.layer ?? 0, stats: m.statistics,
             energy: m.statistics.frobenius * m.statistics.frobenius)
        }
        let layers = Array(Set(perModule.map(\.layer))).sorted()
        var values: [Double] = []
        var notes: [String] = []
        func mean(_ xs: [[Double]]) -> [Double] {
            guard let first = xs.first else { return [Double](repeating: 0, count: Self.statNames.count) }
            var out = [Double](repeating: 0, count: first.count)
            for x in xs { for i in out.indices { out[i] += x[i] } }
            return out.map { $0 / Double(xs.count) }
        }
        if featureSet == .baseline {
            values = signature.values
        } else {
            // Thirds of the adapted layers by position: early, middle, late.
            func part(_ layer: Int) -> Int {
                guard let i = layers.firstIndex(of: layer), layers.count > 1 else { return 0 }
                return min(2, (3 * i) / layers.count)
            }
            if featureSet.includesSpectral {
                var totalEnergy = 0.0
                var energy = [Projection: Double]()
                for m in perModule {
                    totalEnergy += m.energy
                    energy[m.projection, default: 0] += m.energy
                }
                for p in Self.projections {
                    let mods = perModule.filter { $0.projection == p }
                    for third in 0..<3 {
                        var inPart = mods.filter { part($0.layer) == third }
                        if inPart.isEmpty { inPart = mods }  // fewer than three layers: reuse all
                        values += mean(inPart.map(\.stats.values))
                    }
                    var maxima = [Double](repeating: 0, count: Self.statNames.count)
                    for (i, m) in mods.enumerated() {
                        for k in maxima.indices { maxima[k] = i == 0 ? m.stats.values[k] : max(maxima[k], m.stats.values[k]) }
                    }
                    values += maxima
                }
                for p in Self.projections { values.append(totalEnergy > 0 ? (energy[p] ?? 0) / totalEnergy : 0) }
            }
            if featureSet.needsBaseModel {
                guard let table = table(for: profile) else {
                    throw DetectorError(.missingBaseModel,
                        "no base-model embeddings for profile \(profile.key); pass the base model directory (--base-model)")
                }
                if featureSet.includesTokenResponse {
                    let tokens = try TokenResponseFeatures.compute(adapter: adapter, table: table)
                    values += tokens.values
                    if let t = tokens.topToken {
                        notes.append("strongest single-token response: '\(t)' (consensus z \(String(format: "%.1f", tokens.topTokenZ)))")
                    }
                }
                if featureSet.includesAlignment {
                    let aligned = try TokenAlignmentFeatures.compute(adapter: adapter, table: table)
                    values += aligned.values
                    if let t = aligned.topToken {
                        notes.append("input direction closest to a single token: '\(t)' (|cos| \(String(format: "%.2f", aligned.topAlignment))\(aligned.topModule.map { " in \($0)" } ?? ""))")
                    }
                }
            }
        }
        let names = Self.names(for: featureSet)
        guard names.count == values.count else {
            throw DetectorError(.invalidTrainingData, "internal: \(values.count) feature values for \(names.count) names")
        }
        return DetectorFeatures(names: names, values: values, profile: profile, rank: adapter.config.r, notes: notes)
    }
}
