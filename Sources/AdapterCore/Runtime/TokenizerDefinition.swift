import Foundation

/// The pipeline of a Hugging Face tokenizer.json, parsed and checked against what the runtime
/// implements: added tokens, normalizers, pre-tokenizers, the single-sequence post-processor and
/// truncation. The model section is read by the tokenizer of its type (`BPETokenizer`,
/// `WordPieceTokenizer`). Anything else — another normalizer or pre-tokenizer, a pair-only template,
/// `single_word` added tokens — is refused with `.unsupportedTokenizer` naming it, since ignoring
/// it would produce different ids.
///
/// Padding is ignored on purpose: the runtime packs sequences without padding.
struct TokenizerDefinition: Sendable {
    /// A token matched verbatim in the text before the model runs (`added_tokens`).
    struct AddedToken: Sendable {
        let content: [Unicode.Scalar]
        let id: Int32
        /// Also swallows the whitespace before (`lstrip`) or after (`rstrip`) it.
        let stripLeft: Bool
        let stripRight: Bool
        /// Matched in the normalised text instead of the raw text.
        let normalized: Bool
    }

    enum Normalizer: Sendable {
        case nfc, nfd, nfkc, nfkd, lowercase
        case bert(BertNormalizer)
    }

    enum PreTokenizer: Sendable {
        /// Pieces cut at the matches, which are kept as pieces of their own ("Isolated").
        case split(TokenizerRegex)
        /// GPT-2's byte-level step: optional leading space, optional GPT-2 regex split, bytes as characters.
        case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
        /// BERT's whitespace and punctuation split.
        case bert
    }

    /// The GPT-2 pre-tokenizer regex ByteLevel uses when `use_regex` is true.
    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

    let source: String
    let model: JSONFields
    let modelType: String
    let addedTokens: [AddedToken]
    let normalizers: [Normalizer]
    let preTokenizers: [PreTokenizer]
    /// Ids the post-processor puts before and after a single sequence.
    let specialPrefix: [Int32]
    let specialSuffix: [Int32]
    /// Most ids of an encoded sequence (special tokens included), and which end is cut.
    let truncation: (maxLength: Int, keepsEnd: Bool)?

    init(file url: URL) throws(ModelRuntimeError) {
        let json = try ModelDirectoryFile.jsonObject(at: url, invalid: .invalidVocabulary)
        source = url.lastPathComponent
        guard let model = try json.object("model") else {
            throw ModelRuntimeError(.invalidVocabulary, "\(source) has no model section")
        }
        self.model = model
        guard let type = try model.string("type") else {
            throw ModelRuntimeError(.invalidVocabulary, "\(source): the model section has no type")
        }
        modelType = type

        var added: [AddedToken] = []
        for (index, value) in (try json.array("added_tokens") ?? []).enumerated() {
            guard let token = JSONFields(value, source: "\(source): added_tokens[\(index)]", invalid: .invalidVocabulary) else {
                throw ModelRuntimeError(.invalidVocabulary, "\(source): added_tokens[\(index)] is not an object")
            }
            guard let content = try token.string("content"), !content.isEmpty else {
                throw token.error("content", "a non-empty string")
            }
            let id = try token.integer("id")
            guard id >= 0, id < Int(Int32.max) else { throw token.error("id", "a token id") }
            if try token.bool("single_word", default: false) {
                throw ModelRuntimeError(.unsupportedTokenizer, "\(source): the added token '\(content)' is single_word, which is not implemented")
            }
            added.append(AddedToken(
                content: Array(content.unicodeScalars), id: Int32(id),
                stripLeft: try token.bool("lstrip", default: false), stripRight: try token.bool("rstrip", default: false),
                normalized: try token.bool("normalized", default: false)))
        }
        addedTokens = added

        normalizers = try Self.normalizers(json["normalizer"], source)
        preTokenizers = try Self.preTokenizers(json["pre_tokenizer"], source)
        let (prefix, suffix) = try Self.postProcessor(json["post_processor"], source)
        specialPrefix = prefix
        specialSuffix = suffix

        if let truncation = try json.object("truncation") {
            let maxLength = try truncation.integer("max_length")
            guard maxLength > prefix.count + suffix.count else {
                throw truncation.error("max_length", "a length above the \(prefix.count + suffix.count) special tokens")
            }
            let direction = try truncation.string("direction") ?? "Right"
            guard direction == "Right" || direction == "Left" else { throw truncation.error("direction", "Right or Left") }
            self.truncation = (maxLength, direction == "Left")
        } else {
            truncation = nil
        }
    }

    private static func components(_ value: StrictJSON.Value?, _ source: String, _ what: String,
                                   sequenceKey: String) throws(ModelRuntimeError) -> [JSONFields] {
        guard let value else { return [] }
        guard let fields = JSONFields(value, source: "\(source): \(what)", invalid: .invalidVocabulary) else {
            throw ModelRuntimeError(.invalidVocabulary, "\(source): \(what) is \(value.kindName), not an object")
        }
        guard try fields.string("type") == "Sequence" else { return [fields] }
        var flat: [JSONFields] = []
        for element in try fields.array(sequenceKey) ?? [] {
            flat += try components(element, source, what, sequenceKey: sequenceKey)
        }
        return flat
    }

    private static func normalizers(_ value: StrictJSON.Value?, _ source: String) throws(ModelRuntimeError) -> [Normalizer] {
        var out: [Normalizer] = []
        for fields in try components(value, source, "normalizer", sequenceKey: "normalizers") {
            switch try fields.string("type") {
            case "NFC": out.append(.nfc)
            case "NFD": out.append(.nfd)
            case "NFKC": out.append(.nfkc)
            case "NFKD": out.append(.nfkd)
            case "Lowercase": out.append(.lowercase)
            case "BertNormalizer":
                let lowercase = try fields.bool("lowercase", default: true)
                out.append(.bert(BertNormalizer(
                    cleanText: try fields.bool("clean_text", default: true),
                    separateCJKCharacters: try fields.bool("handle_chinese_chars", default: true),
                    stripAccents: fields.has("strip_accents") ? try fields.bool("strip_accents", default: lowercase) : nil,
                    lowercase: lowercase)))
            case let type:
                throw ModelRuntimeError(.unsupportedTokenizer,
                    "\(source): the normalizer '\(type ?? "?")' is not implemented (NFC, NFD, NFKC, NFKD, Lowercase, BertNormalizer are)")
            }
        }
        return out
    }

    private static func preTokenizers(_ value: StrictJSON.Value?, _ source: String) throws(ModelRuntimeError) -> [PreTokenizer] {
        var out: [PreTokenizer] = []
        for fields in try components(value, source, "pre_tokenizer", sequenceKey: "pretokenizers") {
            switch try fields.string("type") {
            case "ByteLevel":
                out.append(.byteLevel(addPrefixSpace: try fields.bool("add_prefix_space", default: true),
                                      useRegex: try fields.bool("use_regex", default: true)))
            case "BertPreTokenizer":
                out.append(.bert)
            case "Split":
                let behavior = try fields.string("behavior") ?? "Isolated"
                guard behavior == "Isolated", try !fields.bool("invert", default: false) else {
                    throw ModelRuntimeError(.unsupportedTokenizer,
                        "\(source): a Split pre-tokenizer with behavior '\(behavior)' or invert is not implemented (Isolated is)")
                }
                guard let pattern = try fields.object("pattern") else { throw fields.error("pattern", "an object") }
                if let regex = try pattern.string("Regex") {
                    out.append(.split(try TokenizerRegex(regex, dialect: .oniguruma)))
                } else if let literal = try pattern.string("String"), !literal.isEmpty {
                    out.append(.split(try TokenizerRegex(NSRegularExpression.escapedPattern(for: literal), dialect: .oniguruma)))
                } else {
                    throw fields.error("pattern", "{\"Regex\": …} or {\"String\": …}")
                }
            case let type:
                throw ModelRuntimeError(.unsupportedTokenizer,
                    "\(source): the pre-tokenizer '\(type ?? "?")' is not implemented (ByteLevel, Split, BertPreTokenizer are)")
            }
        }
        return out
    }

    /// The ids a post-processor adds around a single sequence: (before, after).
    private static func postProcessor(_ value: StrictJSON.Value?, _ source: String) throws(ModelRuntimeError) -> ([Int32], [Int32]) {
        var prefix: [Int32] = []
        var suffix: [Int32] = []
        for fields in try components(value, source, "post_processor", sequenceKey: "processors") {
            var before: [Int32] = []
            var after: [Int32] = []
            switch try fields.string("type") {
            case "ByteLevel":
                continue
            case "BertProcessing", "RobertaProcessing":
                func id(_ key: String) throws(ModelRuntimeError) -> Int32 {
                    guard let pair = try fields.array(key), pair.count == 2, let n = pair[1].integer, n >= 0, n < Int(Int32.max) else {
                        throw fields.error(key, "[token, id]")
                    }
                    return Int32(n)
                }
                before = [try id("cls")]
                after = [try id("sep")]
            case "TemplateProcessing":
                guard let single = try fields.array("single") else { throw fields.error("single", "a template") }
                let specials = try fields.object("special_tokens")
                var seenSequence = false
                for (index, piece) in single.enumerated() {
                    guard let part = JSONFields(piece, source: "\(source): post_processor single[\(index)]", invalid: .invalidVocabulary) else {
                        throw fields.error("single", "a list of SpecialToken and Sequence entries")
                    }
                    if part.has("Sequence") {
                        guard !seenSequence else {
                            throw ModelRuntimeError(.unsupportedTokenizer, "\(source): the single-sequence template has more than one sequence")
                        }
                        seenSequence = true
                    } else if let special = try part.object("SpecialToken"), let name = try special.string("id") {
                        guard let entry = try specials?.object(name), let ids = try entry.array("ids") else {
                            throw ModelRuntimeError(.invalidVocabulary, "\(source): the template's special token '\(name)' has no ids")
                        }
                        for value in ids {
                            guard let n = value.integer, n >= 0, n < Int(Int32.max) else { throw entry.error("ids", "token ids") }
                            if seenSequence { after.append(Int32(n)) } else { before.append(Int32(n)) }
                        }
                    } else {
                        throw ModelRuntimeError(.invalidVocabulary, "\(source): post_processor single[\(index)] is neither SpecialToken nor Sequence")
                    }
                }
                guard seenSequence else {
                    throw ModelRuntimeError(.invalidVocabulary, "\(source): the single-sequence template has no sequence")
                }
            case let type:
                throw ModelRuntimeError(.unsupportedTokenizer,
                    "\(source): the post-processor '\(type ?? "?")' is not implemented (TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel are)")
            }
            // A later processor wraps the result of the earlier ones.
            prefix = before + prefix
            suffix += after
        }
        return (prefix, suffix)
    }
}
