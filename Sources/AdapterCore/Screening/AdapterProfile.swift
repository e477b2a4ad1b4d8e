/// What decides which adapters a detector's benign bank compares: the base model's shape as seen from
/// the adapter (architecture, width of the attention input, number of adapted layers) — not the
/// base_model_name_or_path string, which differs between a hub name and a local path of one model.
public struct AdapterProfile: Sendable, Hashable, Codable, CustomStringConvertible {
    public var architecture: ArchitectureFamily
    public var hiddenSize: Int
    public var layerCount: Int

    public init(architecture: ArchitectureFamily, hiddenSize: Int, layerCount: Int) {
        self.architecture = architecture
        self.hiddenSize = hiddenSize
        self.layerCount = layerCount
    }

    /// The profile of an adapter's attention modules (hidden size = input width of its Q modules,
    /// or of any attention module if it adapts no Q).
    public init(adapter: LoRAAdapter) {
        let attention = adapter.modules.filter { $0.projection != nil }
        let q = attention.first { $0.projection == .q } ?? attention.first
        self.init(architecture: adapter.architecture, hiddenSize: q?.inFeatures ?? 0, layerCount: adapter.layerCount)
    }

    /// e.g. "bert-384x6".
    public var key: String { "\(architecture.rawValue)-\(hiddenSize)x\(layerCount)" }
    public var description: String { key }
}
