import AdapterCore

/// The screening step of an install: an adapter in, a verdict out. The daemon depends on this
/// protocol, not on a particular detector, so tests can screen with a known model.
public protocol Screening: Sendable {
    /// A short name of the model, reported in status and verdicts.
    var modelName: String { get }
    /// The threshold in force.
    var threshold: Double { get }
    /// Whether and how installs are screened by behaviour too (status shows it); nil: not said.
    var behaviourSummary: String? { get }
    /// Decides whether the adapter may be installed (the verdict names the model that judged and the
    /// threshold in force). Throws for adapters it cannot judge at all.
    func screen(_ adapter: LoRAAdapter) throws -> Verdict
    /// The same with the install's labelled examples, which a screening may run through the base model.
    func screen(_ adapter: LoRAAdapter, examples: [TaskExample], task: String) throws -> Verdict
}

extension Screening {
    public var behaviourSummary: String? { nil }

    /// Screens with the install's examples too; by default (a screening that reads no examples) the
    /// adapter alone.
    public func screen(_ adapter: LoRAAdapter, examples: [TaskExample], task: String) throws -> Verdict {
        try screen(adapter)
    }
}
