/// One installed task as clustering sees it: its name and version, its own (original) adapter, and
/// its few examples. A re-installed task gets a new version, which invalidates cached scores.
public struct TaskProfile: Sendable {
    public let name: String
    public let version: Int
    /// The task's own adapter: the reference every candidate is compared with.
    public let adapter: LoRAAdapter
    /// The example texts (inputs) the task was installed with; used for routing by text.
    public let examples: [String]
    /// A file holding the task's examples as installed (JSONL), for evaluators that run outside the
    /// process; nil when the examples exist only in memory.
    public let examplesFile: String?
    /// Bytes of the task's own adapter as stored (what serving it by itself costs).
    public let ownBytes: Int

    public init(name: String, version: Int, adapter: LoRAAdapter, examples: [String] = [],
                examplesFile: String? = nil, ownBytes: Int? = nil) {
        self.name = name
        self.version = version
        self.adapter = adapter
        self.examples = examples
        self.examplesFile = examplesFile
        self.ownBytes = ownBytes ?? adapter.tensorBytes
    }

    /// The same task with its adapter's factors decoded to doubles once (`LoRAAdapter.decodingFactors`),
    /// for a computation that reads them many times.
    func decodingFactors() -> TaskProfile {
        TaskProfile(name: name, version: version, adapter: adapter.decodingFactors(), examples: examples,
                    examplesFile: examplesFile, ownBytes: ownBytes)
    }
}
