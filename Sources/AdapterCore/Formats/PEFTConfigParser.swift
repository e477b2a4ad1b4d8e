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
        let json: StrictJSON.Value
        do {
            json = try StrictJSON.parse(data)
        } catch {
            throw PEFTError(.invalidConfig, "adapter_config.json is not valid JSON: \(error.description)")
        }
        guard json.members != nil else {
            throw PEFTError(.invalidConfig, "adapter_config.json is \(json.kindName), not a JSON object")
        }
        func field(_ key: String) -> StrictJSON.Value? {
            guard let v = json[key], !v.isNull else { return nil }
            return v
        }
        func bad(_ key: String, _ expected: String, _ v: StrictJSON.Value) -> PEFTError {
            PEFTError(.invalidConfig, "adapter_config.json: '\(key)' is \(v.kindName); expected \(expected)")
        }
        func optionalString(_ key: String) throws(PEFTError) -> String? {
            guard let v = field(key) else { return nil }
            guard let s = v.string else { throw bad(key, "a string", v) }
            return s
        }
        func bool(_ key: String) throws(PEFTError) -> Bool {
            guard let v = field(key) else { return false }
            guard case .bool(let b) = v else { throw bad(key, "true or false", v) }
            return b
        }
        func positiveInt(_ key: String, _ v: StrictJSON.Value) throws(PEFTError) -> Int {
            guard let i = v.integer, i >= 1 else { throw bad(key, "a positive integer", v) }
            return i
        }
        func finiteNumber(_ key: String, _ v: StrictJSON.Value) throws(PEFTError) -> Double {
            guard let d = v.double else { throw bad(key, "a finite number", v) }
            return d
        }

        guard let peftType = try optionalString("peft_type") else {
            throw PEFTError(.invalidConfig, "adapter_config.json has no 'peft_type'")
        }
        guard peftType == "LORA" else {
            throw PEFTError(.unsupportedPEFTType, "peft_type is '\(peftType)'; adapterd handles only LORA adapters")
        }
        let r = try field("r").map { v throws(PEFTError) in try positiveInt("r", v) } ?? defaultRank
        let alpha = try field("lora_alpha").map { v throws(PEFTError) in try finiteNumber("lora_alpha", v) }
            ?? defaultAlpha

        var targets: [String] = []
        var targetIsRegex = false
        if let t = field("target_modules") {
            if let s = t.string {
                targets = [s]
                targetIsRegex = true
            } else if let list = t.elements {
                for e in list {
                    guard let s = e.string else { throw bad("target_modules", "a string or a list of strings", t) }
                    targets.append(s)
                }
            } else {
                throw bad("target_modules", "a string or a list of strings", t)
            }
        }

        var rankPattern: [String: Int] = [:]
        var rankKeys: [String] = []
        if let p = field("rank_pattern") {
            guard let members = p.members else { throw bad("rank_pattern", "an object", p) }
            for m in members {
                rankPattern[m.key] = try positiveInt("rank_pattern.\(m.key)", m.value)
                rankKeys.append(m.key)
            }
        }
        var alphaPattern: [String: Double] = [:]
        var alphaKeys: [String] = []
        if let p = field("alpha_pattern") {
            guard let members = p.members else { throw bad("alpha_pattern", "an object", p) }
            for m in members {
                alphaPattern[m.key] = try finiteNumber("alpha_pattern.\(m.key)", m.value)
                alphaKeys.append(m.key)
            }
        }
        for key in rankKeys + alphaKeys {
            do {
                _ = try NSRegularExpression(pattern: patternText(key))
            } catch {
                throw PEFTError(.invalidConfig, "pattern key '\(key)' is not a valid regular expression")
            }
        }

        var modulesToSave: [String] = []
        if let m = field("modules_to_save") {
            guard let list = m.elements else { throw bad("modules_to_save", "a list of strings", m) }
            for e in list {
                guard let s = e.string else { throw bad("modules_to_save", "a list of strings", m) }
                modulesToSave.append(s)
            }
        }

        let config = PEFTConfig(
            peftType: peftType,
            baseModelNameOrPath: try optionalString("base_model_name_or_path"),
            r: r, loraAlpha: alpha,
            useRSLoRA: try bool("use_rslora"),
            fanInFanOut: try bool("fan_in_fan_out"),
            targetModules: targets,
            rankPattern: rankPattern, alphaPattern: alphaPattern,
            taskType: try optionalString("task_type"))
        return Parsed(
            config: config, rankPatternKeys: rankKeys, alphaPatternKeys: alphaKeys, modulesToSave: modulesToSave,
            useDoRA: try bool("use_dora"), targetModulesIsRegex: targetIsRegex)
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
