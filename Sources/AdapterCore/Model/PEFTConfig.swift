/// The parts of a PEFT `adapter_config.json` that adapterd honours.
public struct PEFTConfig: Sendable, Equatable {
    public var peftType: String
    public var baseModelNameOrPath: String?
    public var r: Int
    public var loraAlpha: Double
    public var useRSLoRA: Bool
    public var fanInFanOut: Bool
    public var targetModules: [String]
    /// Per-module rank overrides, keyed by a name suffix or regular expression (PEFT semantics).
    public var rankPattern: [String: Int]
    /// Per-module alpha overrides, keyed like `rankPattern`.
    public var alphaPattern: [String: Double]
    public var taskType: String?

    public init(peftType: String = "LORA", baseModelNameOrPath: String? = nil, r: Int, loraAlpha: Double,
                useRSLoRA: Bool = false, fanInFanOut: Bool = false, targetModules: [String] = [],
                rankPattern: [String: Int] = [:], alphaPattern: [String: Double] = [:], taskType: String? = nil) {
        self.peftType = peftType
        self.baseModelNameOrPath = baseModelNameOrPath
        self.r = r
        self.loraAlpha = loraAlpha
        self.useRSLoRA = useRSLoRA
        self.fanInFanOut = fanInFanOut
        self.targetModules = targetModules
        self.rankPattern = rankPattern
        self.alphaPattern = alphaPattern
        self.taskType = taskType
    }
}
