import AdapterCore

/// The screening step of an install: an adapter in, a verdict out. The daemon depends on this
/// protocol, not on a particular detector, so tests can screen with a known model.
public protocol Screening: Sendable {
    /// A short name of the model, reported in status and verdicts.
    var modelName: String { get }
    /// The threshold in force.
    var threshold: Double { get }
    /// Decides whether the adapter may be installed (the verdict names the model that judged and the
    /// threshold in force). Throws for adapters it cannot judge at all.
    func screen(_ adapter: LoRAAdapter) throws -> Verdict
}
