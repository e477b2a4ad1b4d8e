import Foundation

/// Reads adapter_config.json into a `PEFTConfig` and resolves per-module rank and scale the way
/// PEFT 0.21 does.
///
/// Pattern semantics (PEFT `get_pattern_key`): a `rank_pattern`/`alpha_pattern` key applies to a
/// module whose name matches the regular expression `(.*\.)?(KEY)$` from its start, i.e. the key
/// matches a dot-separated suffix of the name (keys may be regular expressions). The first key that
/// matches, in the order the keys appear in the file, wins; otherwise `r`/`lora_alpha` apply.
/// Scale = alpha / r, or alpha / √r with `use_rslora`.
public enum PEFTConfigParser {
    /// A parsed config plus what the loader needs beyond `PEFTConfig`.
    public struct Parsed: Sendable, Equatable {
        public var config: PEFTConfig
        /// `rank_pattern` keys in file order.
        public var rankPatternKeys: [String]
        /// `alpha_pattern` keys in file order.
        public var alphaPatternKeys: [String]
        /// `modules_to_save` entries (an adapter with any is refused on load: merging would drop them).
        public var modulesToSave: [String]
        /// `use_dora` (DoRA adapters are refused).
        public var useDoRA: Bool
        /// `target_modules` was a single string (PEFT treats it as a full-match regex).
        public var targetModulesIsRegex: Bool

        /// Rank and scale PEFT gives the module named `module` (no `base_model.model.` prefix).
        public func rankAndScale(forModule module: String) throws(PEFTError) -> (rank: Int, scale: Double) {
            let rank = PEFTConfigParser.firstMatch(rankPatternKeys, module).flatMap { config.rankPattern[$0] }
                ?? config.r
            let alpha = PEFTConfigParser.firstMatch(alphaPatternKeys, module).flatMap { config.alphaPattern[$0] }
                ?? config.loraAlpha
            guard rank >= 1 else {
                throw PEFTError(.invalidConfig, "module '\(module)' gets rank \(rank); ranks must be positive")
            }
            let scale = config.useRSLoRA ? alpha / Double(rank).squareRoot() : alpha / Double(rank)
            return (rank, scale)
        }
    }

    /// PEFT's defaults when a field is absent (LoraConfig: r = 8, lora_alpha = 8).
    public static let defaultRank = 8
    public static let defaultAlpha = 8.0

    /// Parses the bytes of adapter_config.json.
    public static func parse(_ data: Data) throws(PEFTError) -> Parsed {
        let fields = try PEFTConfigFields(data)
        let peftType = try loraType(fields)
        let r = try fields.value("r", default: defaultRank, fields.positiveInt)
        let alpha = try fields.value("lora_alpha", default: defaultAlpha, fields.finiteNumber)
        let (targets, targetIsRegex) = try targetModules(fields)
        let (rankPattern, rankKeys) = try fields.pattern("rank_pattern", fields.positiveInt)
        let (alphaPattern, alphaKeys) = try fields.pattern("alpha_pattern", fields.finiteNumber)
        try checkPatternKeys(rankKeys + alphaKeys)
        let modulesToSave = try fields.value("modules_to_save", default: [String]()) { key, m throws(PEFTError) in
            guard let list = m.elements else { throw fields.bad(key, "a list of strings", m) }
            return try fields.strings(of: list, in: key, whole: m, expected: "a list of strings")
        }

        let config = PEFTConfig(
            peftType: peftType,
            baseModelNameOrPath: try fields.optionalString("base_model_name_or_path"),
            r: r, loraAlpha: alpha,
            useRSLoRA: try fields.bool("use_rslora"),
            fanInFanOut: try fields.bool("fan_in_fan_out"),
            targetModules: targets,
            rankPattern: rankPattern, alphaPattern: alphaPattern,
            taskType: try fields.optionalString("task_type"))
        return Parsed(
            config: config, rankPatternKeys: rankKeys, alphaPatternKeys: alphaKeys, modulesToSave: modulesToSave,
            useDoRA: try fields.bool("use_dora"), targetModulesIsRegex: targetIsRegex)
    }

    /// `peft_type`, which must be present and `LORA`.
    private static func loraType(_ fields: PEFTConfigFields) throws(PEFTError) -> String {
        guard let peftType = try fields.optionalString("peft_type") else {
            throw PEFTError(.invalidConfig, "adapter_config.json has no 'peft_type'")
        }
        guard peftType == "LORA" else {
            throw PEFTError(.unsupportedPEFTType, "peft_type is '\(peftType)'; adapterd handles only LORA adapters")
        }
        return peftType
    }

    /// `target_modules`: a list of names, or one string (a regular expression, as PEFT reads it).
    private static func targetModules(_ fields: PEFTConfigFields) throws(PEFTError) -> (names: [String], isRegex: Bool) {
        let key = "target_modules", expected = "a string or a list of strings"
        guard let t = fields.field(key) else { return ([], false) }
        if let s = t.string { return ([s], true) }
        guard let list = t.elements else { throw fields.bad(key, expected, t) }
        return (try fields.strings(of: list, in: key, whole: t, expected: expected), false)
    }

    /// Refuses a pattern key that is not a valid regular expression.
    private static func checkPatternKeys(_ keys: [String]) throws(PEFTError) {
        for key in keys {
            do {
                _ = try NSRegularExpression(pattern: patternText(key))
            } catch {
                throw PEFTError(.invalidConfig, "pattern key '\(key)' is not a valid regular expression")
            }
        }
    }

    /// Whether a pattern key applies to a module name, as PEFT's `get_pattern_key` decides.
    public static func patternMatches(_ key: String, module: String) -> Bool {
        guard let regex = try? NSRegularExpression(pattern: patternText(key)) else { return false }
        let range = NSRange(module.startIndex..<module.endIndex, in: module)
        return regex.firstMatch(in: module, options: [.anchored], range: range) != nil
    }

    static func firstMatch(_ keys: [String], _ module: String) -> String? {
        keys.first { patternMatches($0, module: module) }
    }

    private static func patternText(_ key: String) -> String { "^(.*\\.)?(\(key))$" }
}
