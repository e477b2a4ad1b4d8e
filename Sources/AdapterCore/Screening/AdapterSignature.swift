/// The 20-value spectral signature of an adapter: five statistics (`SpectralStatistics.names`) for each
/// attention projection Q, K, V, O, each the mean over the adapter's layers, plus the per-layer table.
///
/// Feature names are stable: "q.sigma1", "q.frobenius", "q.energy_concentration", "q.spectral_entropy",
/// "q.kurtosis", then the same for k, v and o (`featureNames`, the order of `values`). A projection the
/// adapter does not adapt contributes five zeros and is listed in `missingProjections`.
/// See docs/SIGNATURE.md.
public struct AdapterSignature: Sendable, Equatable, Codable {
    /// The 20 feature names in the order of `values`.
    public static let featureNames: [String] = Projection.allCases.flatMap { projection in
        SpectralStatistics.names.map { "\(projection.rawValue).\($0)" }
    }

    /// The 20 features (mean over layers), in the order of `featureNames`.
    public let values: [Double]
    /// Projections with no module in the adapter (their five features are 0).
    public let missingProjections: [Projection]
    /// Per-module statistics, ordered by projection then layer.
    public let modules: [ModuleSpectralStatistics]

    /// Aggregates a per-module table by the mean over layers.
    public init(modules: [ModuleSpectralStatistics]) {
        let ordered = modules.sorted {
            ($0.projection, $0.layer ?? -1, $0.name) < ($1.projection, $1.layer ?? -1, $1.name)
        }
        self.modules = ordered
        self.missingProjections = Projection.allCases.filter { p in !ordered.contains { $0.projection == p } }
        self.values = AdapterSignature.aggregate(ordered, .mean)
    }

    /// The value of one feature by name ("k.kurtosis"), or nil for an unknown name.
    public subscript(feature name: String) -> Double? {
        AdapterSignature.featureNames.firstIndex(of: name).map { values[$0] }
    }

    /// Feature name → value.
    public var features: [String: Double] {
        Dictionary(uniqueKeysWithValues: zip(AdapterSignature.featureNames, values))
    }

    /// The mean statistics of one projection (zeros if it is missing).
    public func statistics(for projection: Projection) -> SpectralStatistics {
        let start = (Projection.allCases.firstIndex(of: projection) ?? 0) * SpectralStatistics.names.count
        return SpectralStatistics(values: Array(values[start..<(start + SpectralStatistics.names.count)])) ?? .zero
    }

    /// The per-layer rows of one projection, in layer order.
    public func layerTable(for projection: Projection) -> [ModuleSpectralStatistics] {
        modules.filter { $0.projection == projection }
    }

    /// 20 values in the order of `featureNames`, aggregated over layers with another reduction
    /// (`.mean` gives `values`); missing projections stay 0.
    public func aggregated(_ aggregation: LayerAggregation) -> [Double] {
        AdapterSignature.aggregate(modules, aggregation)
    }

    static func aggregate(_ modules: [ModuleSpectralStatistics], _ aggregation: LayerAggregation) -> [Double] {
        Projection.allCases.flatMap { projection -> [Double] in
            let rows = modules.filter { $0.projection == projection }.map { $0.statistics.values }
            return (0..<SpectralStatistics.names.count).map { i in aggregation.reduce(rows.map { $0[i] }) }
        }
    }

    // MARK: - Codable: {"features": {name: value}, "missing_projections": [...], "modules": [...]}

    enum CodingKeys: String, CodingKey {
        case features
        case missingProjections = "missing_projections"
        case modules
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let features = try container.decode([String: Double].self, forKey: .features)
        values = try AdapterSignature.featureNames.map { name in
            guard let v = features[name] else {
                throw DecodingError.dataCorruptedError(
                    forKey: .features, in: container, debugDescription: "signature lacks feature '\(name)'")
            }
            return v
        }
        missingProjections = try container.decode([Projection].self, forKey: .missingProjections)
        modules = try container.decode([ModuleSpectralStatistics].self, forKey: .modules)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(features, forKey: .features)
        try container.encode(missingProjections, forKey: .missingProjections)
        try container.encode(modules, forKey: .modules)
    }
}
