/// Maps PEFT module paths to a transformer layer index and an attention projection.
///
/// Recognised (by the trailing path components):
/// - Llama, Mistral, Qwen2, Gemma, Phi-3 output: `…q_proj`, `…k_proj`, `…v_proj`, `…o_proj`
/// - BERT/RoBERTa: `…attention.self.query|key|value`, `…attention.output.dense`. The FFN's
///   `intermediate.dense` and `<layer>.output.dense` are not attention and stay "other".
/// - GPT-2: `…attn.c_attn` (fused, split into equal thirds of the output rows: Q, K, V) and
///   `…attn.c_proj` (O); `mlp.c_proj` stays "other".
/// - Phi-3: `…qkv_proj` (fused; Q is `in_features` rows wide, K and V share the rest equally).
///
/// Falcon/GPT-NeoX `query_key_value` is deliberately "other": its fused layout interleaves heads
/// (and depends on multi-query settings), so rows cannot be split by position alone. Every other
/// module (MLP, embeddings, T5-style `q`/`k`/`v`/`o`, …) is kept with projection nil.
public enum ModuleNaming {
    /// What a module path denotes.
    public enum Role: Sendable, Hashable {
        /// One attention projection.
        case projection(Projection)
        /// A fused Q/K/V projection that is split on load.
        case fusedQKV(FusedLayout)
        /// Anything else.
        case other
    }

    /// How the output rows of a fused Q/K/V projection divide.
    public enum FusedLayout: Sendable, Hashable {
        /// GPT-2 `c_attn`: three equal parts.
        case equalThirds
        /// Phi-3 `qkv_proj`: Q as wide as the input, K and V equal halves of the rest.
        case queryWidthIsInput
    }

    /// One part of a module after splitting: the rows of B it takes and its projection.
    public struct Part: Sendable, Hashable {
        /// The module name, with `#q`/`#k`/`#v` appended for parts of a fused module.
        public let name: String
        public let projection: Projection?
        /// Rows of B (output features) that belong to this part.
        public let rows: Range<Int>
    }

    /// Suffix separating a fused module's name from its part (`…c_attn#q`).
    public static let partSeparator: Character = "#"

    /// The dot-separated components of a path, empty ones kept, found on its UTF-8 bytes (a split on
    /// `Character`s walks grapheme clusters: most of a 3B adapter's load went to splitting its names).
    static func components(of path: Substring) -> [Substring] {
        var result: [Substring] = []
        var start = path.startIndex
        var i = path.utf8.startIndex
        while i < path.utf8.endIndex {
            if path.utf8[i] == UInt8(ascii: ".") {
                result.append(path[start..<i])
                start = path.utf8.index(after: i)
            }
            i = path.utf8.index(after: i)
        }
        result.append(path[start...])
        return result
    }

    /// The role of a module path.
    public static func role(of path: String) -> Role {
        role(of: path[...])
    }

    static func role(of path: Substring) -> Role {
        let c = components(of: path)
        guard let last = c.last else { return .other }
        let parent: Substring = c.count >= 2 ? c[c.count - 2] : ""
        let grandparent: Substring = c.count >= 3 ? c[c.count - 3] : ""
        switch last {
        case "q_proj": return .projection(.q)
        case "k_proj": return .projection(.k)
        case "v_proj": return .projection(.v)
        case "o_proj": return .projection(.o)
        case "qkv_proj": return .fusedQKV(.queryWidthIsInput)
        case "query" where parent == "self" && grandparent == "attention": return .projection(.q)
        case "key" where parent == "self" && grandparent == "attention": return .projection(.k)
        case "value" where parent == "self" && grandparent == "attention": return .projection(.v)
        case "dense" where parent == "output" && grandparent == "attention": return .projection(.o)
        case "c_attn" where parent == "attn": return .fusedQKV(.equalThirds)
        case "c_proj" where parent == "attn": return .projection(.o)
        default: return .other
        }
    }

    private static let layerContainers: Set<Substring> = ["layers", "layer", "h", "blocks", "block"]

    /// The transformer layer index in a path: the number after `layers`/`layer`/`h`/`blocks`/`block`,
    /// or else the first all-digit component; nil when there is none.
    public static func layerIndex(in path: String) -> Int? {
        let c = components(of: path[...]).filter { !$0.isEmpty }
        for i in 1..<max(c.count, 1) where layerContainers.contains(c[i - 1]) {
            if isDigits(c[i]), let n = Int(c[i]) { return n }
        }
        for part in c where isDigits(part) {
            if let n = Int(part) { return n }
        }
        return nil
    }

    /// Splits a module of the given width into its parts (one part for an unfused module).
    public static func parts(of path: String, inFeatures: Int, outFeatures: Int) throws(PEFTError) -> [Part] {
        switch role(of: path) {
        case .projection(let p):
            return [Part(name: path, projection: p, rows: 0..<outFeatures)]
        case .other:
            return [Part(name: path, projection: nil, rows: 0..<outFeatures)]
        case .fusedQKV(let layout):
            let q: Int
            let kv: Int
            switch layout {
            case .equalThirds:
                guard outFeatures > 0, outFeatures % 3 == 0 else {
                    throw PEFTError(
                        .cannotSplitFusedModule,
                        "fused module '\(path)' has \(outFeatures) output rows, not divisible into equal Q, K, V thirds")
                }
                q = outFeatures / 3
                kv = q
            case .queryWidthIsInput:
                let rest = outFeatures - inFeatures
                guard inFeatures > 0, rest > 0, rest % 2 == 0 else {
                    throw PEFTError(
                        .cannotSplitFusedModule,
                        "fused module '\(path)' has \(outFeatures) output rows for \(inFeatures) inputs; expected "
                            + "Q = \(inFeatures) rows plus equal K and V parts")
                }
                q = inFeatures
                kv = rest / 2
            }
            let sep = String(partSeparator)
            return [
                Part(name: path + sep + "q", projection: .q, rows: 0..<q),
                Part(name: path + sep + "k", projection: .k, rows: q..<(q + kv)),
                Part(name: path + sep + "v", projection: .v, rows: (q + kv)..<(q + 2 * kv)),
            ]
        }
    }

    /// The architecture family the module paths belong to (fused layouts win over plain `*_proj`
    /// names, since Phi-3 also has `o_proj`).
    public static func family(of paths: some Sequence<String>) -> ArchitectureFamily {
        var seen = Set<ArchitectureFamily>()
        for path in paths {
            let base = path.utf8.firstIndex(of: partSeparator.asciiValue!).map { path[..<$0] } ?? path[...]
            let last = components(of: base).last { !$0.isEmpty } ?? ""
            switch role(of: base) {
            case .fusedQKV(.queryWidthIsInput): seen.insert(.phi3)
            case .fusedQKV(.equalThirds): seen.insert(.gpt2)
            case .projection:
                if last == "c_proj" { seen.insert(.gpt2) }
                else if last.hasUTF8Suffix("_proj") { seen.insert(.llama) }
                else { seen.insert(.bert) }
            case .other: break
            }
        }
        for family in [ArchitectureFamily.phi3, .gpt2, .bert, .llama] where seen.contains(family) {
            return family
        }
        return .unknown
    }

    /// Whether a path component is all ASCII digits (read as bytes, not `Character`s).
    private static func isDigits(_ component: Substring) -> Bool {
        component.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }
}

extension StringProtocol {
    /// Whether `word` occurs in the UTF-8 bytes, by a plain byte search (the generic `contains` of
    /// collections and Foundation's both cost more than the rest of an adapter's name parsing).
    func containsUTF8(_ word: String) -> Bool {
        let needle = Array(word.utf8)
        func search(_ hay: UnsafeBufferPointer<UInt8>) -> Bool {
            guard hay.count >= needle.count else { return false }
            return (0...(hay.count - needle.count)).contains { start in
                needle.indices.allSatisfy { hay[start + $0] == needle[$0] }
            }
        }
        return utf8.withContiguousStorageIfAvailable { search($0) } ?? Array(utf8).withUnsafeBufferPointer { search($0) }
    }
}

extension Substring {
    /// `hasPrefix` on the UTF-8 bytes (the generic one compares `Character`s), for ASCII path parts.
    func hasUTF8Prefix(_ prefix: String) -> Bool { utf8.starts(with: prefix.utf8) }

    /// `hasSuffix` on the UTF-8 bytes, for ASCII path parts.
    func hasUTF8Suffix(_ suffix: String) -> Bool {
        utf8.count >= suffix.utf8.count && utf8.suffix(suffix.utf8.count).elementsEqual(suffix.utf8)
    }
}
