/// One row of a signature's per-layer table: the spectral statistics of one attention module.
public struct ModuleSpectralStatistics: Sendable, Hashable, Codable {
    /// PEFT module path (with a `#q`/`#k`/`#v` suffix for parts of a fused projection).
    public let name: String
    public let layer: Int?
    public let projection: Projection
    /// Length of the spectrum the statistics were computed on: min(r, out, in).
    public let spectrumLength: Int
    public let statistics: SpectralStatistics

    public init(name: String, layer: Int?, projection: Projection, spectrumLength: Int, statistics: SpectralStatistics) {
        self.name = name
        self.layer = layer
        self.projection = projection
        self.spectrumLength = spectrumLength
        self.statistics = statistics
    }

    enum CodingKeys: String, CodingKey {
        case name, layer, projection
        case spectrumLength = "spectrum_length"
        case statistics
    }
}
