import Foundation

/// Why a base model's token embeddings could not be read.
public struct TokenEmbeddingError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: Hashable, Sendable {
        case missingFile
        case malformedFile
        case unsupportedModel
    }
    public let code: Code
    public let message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}

/// The vectors a base model feeds its first attention layer when it reads one vocabulary token, one
/// row per kept token: for BERT-style encoders LayerNorm(word + mean position (1…63) + token type 0)
/// with the embedding LayerNorm's weight and bias; for Llama-style decoders RMSNorm(embedding) with the
/// first layer's input_layernorm weight. Special tokens (`[PAD]`, `[unusedN]`, `<s>`, …) are left out,
/// since no input text produces them.
///
/// Used by the trigger-agnostic detector features: how strongly an adapter's ΔW reacts to single
/// tokens. Built once per base model and shared by all screenings (it is immutable).
public struct TokenEmbeddingTable: Sendable {
    public let architecture: ArchitectureFamily
    public let hiddenSize: Int
    /// The kept tokens' strings (for explanations), in row order of `vectors`.
    public let tokens: [String]
    /// tokens.count × hiddenSize.
    public let vectors: Matrix
    /// Where it came from, for provenance (directory name).
    public let source: String

    public init(architecture: ArchitectureFamily, hiddenSize: Int, tokens: [String], vectors: Matrix, source: String) {
        self.architecture = architecture
        self.hiddenSize = hiddenSize
        self.tokens = tokens
        self.vectors = vectors
        self.source = source
    }

    /// Reads a Hugging Face model directory: `config.json` (model_type bert or llama), `model.safetensors`,
    /// and `vocab.txt` (BERT) or `tokenizer.json` (token strings; optional for Llama).
    public static func load(directory: URL) throws -> TokenEmbeddingTable {
        let fm = FileManager.default
        let configURL = directory.appendingPathComponent("config.json")
        let weightsURL = directory.appendingPathComponent("model.safetensors")
        guard fm.fileExists(atPath: configURL.path) else {
            throw TokenEmbeddingError(.missingFile, "base model directory \(directory.path) has no config.json")
        }
        guard fm.fileExists(atPath: weightsURL.path) else {
            throw TokenEmbeddingError(.missingFile, "base model directory \(directory.path) has no model.safetensors")
        }
        let configData = try Data(contentsOf: configURL)
        guard let config = try? JSONSerialization.jsonObject(with: configData) as? [String: Any] else {
            throw TokenEmbeddingError(.malformedFile, "\(configURL.path) is not a JSON object")
        }
        let modelType = (config["model_type"] as? String) ?? ""
        let file = try BaseModelTensorFile(url: weightsURL)
        let name = directory.lastPathComponent
        switch modelType {
        case "bert":
            let word = try file.matrix(named: ["embeddings.word_embeddings.weight", "bert.embeddings.word_embeddings.weight"])
            let pos = try file.matrix(named: ["embeddings.position_embeddings.weight", "bert.embeddings.position_embeddings.weight"])
            let type = try file.matrix(named: ["embeddings.token_type_embeddings.weight", "bert.embeddings.token_type_embeddings.weight"])
            let gamma = try file.vector(named: ["embeddings.LayerNorm.weight", "bert.embeddings.LayerNorm.weight"])
            let beta = try file.vector(named: ["embeddings.LayerNorm.bias", "bert.embeddings.LayerNorm.bias"])
            let d = word.cols
            guard pos.cols == d, type.cols == d, gamma.count == d, beta.count == d, pos.rows >= 2, type.rows >= 1 else {
                throw TokenEmbeddingError(.malformedFile, "\(weightsURL.path): embedding tensors have inconsistent widths")
            }
            let eps = (config["layer_norm_eps"] as? Double) ?? 1e-12
            var offset = [Double](repeating: 0, count: d)
            let positions = 1..<min(64, pos.rows)
            for p in positions { for j in 0..<d { offset[j] += pos[p, j] } }
            for j in 0..<d { offset[j] = offset[j] / Double(positions.count) + type[0, j] }
            let vocab = try readLines(directory.appendingPathComponent("vocab.txt"))
            guard vocab.count == word.rows else {
                throw TokenEmbeddingError(.malformedFile,
                    "vocab.txt has \(vocab.count) tokens but the word embedding has \(word.rows) rows")
            }
            var kept: [Int] = []
            for (i, t) in vocab.enumerated() where !(t.hasPrefix("[") && t.hasSuffix("]")) { kept.append(i) }
            var out = Matrix(zeros: kept.count, d)
            var row = [Double](repeating: 0, count: d)
            for (r, i) in kept.enumerated() {
                var mean = 0.0
                for j in 0..<d { row[j] = word[i, j] + offset[j]; mean += row[j] }
                mean /= Double(d)
                var v = 0.0
                for j in 0..<d { let c = row[j] - mean; v += c * c }
                let inv = 1 / (v / Double(d) + eps).squareRoot()
                for j in 0..<d { out[r, j] = (row[j] - mean) * inv * gamma[j] + beta[j] }
            }
            return TokenEmbeddingTable(architecture: .bert, hiddenSize: d, tokens: kept.map { vocab[$0] },
                                       vectors: out, source: name)
        case "llama", "mistral", "qwen2":
            let embed = try file.matrix(named: ["model.embed_tokens.weight", "embed_tokens.weight"])
            let gamma = try file.vector(named: ["model.layers.0.input_layernorm.weight", "layers.0.input_layernorm.weight"])
            let d = embed.cols
            guard gamma.count == d else {
                throw TokenEmbeddingError(.malformedFile, "\(weightsURL.path): input_layernorm width \(gamma.count) ≠ \(d)")
            }
            let eps = (config["rms_norm_eps"] as? Double) ?? 1e-6
            let names = (try? llamaTokenStrings(directory.appendingPathComponent("tokenizer.json"), count: embed.rows))
                ?? (0..<embed.rows).map { Self.fallbackTokenName($0) }
            var special = Set<Int>()
            for key in ["bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id"] {
                if let id = config[key] as? Int { special.insert(id) }
                if let ids = config[key] as? [Int] { special.formUnion(ids) }
            }
            var kept: [Int] = []
            for i in 0..<embed.rows {
                let t = names[i]
                if special.contains(i) { continue }
                if t.hasPrefix("<") && t.hasSuffix(">") && t.count > 2 { continue }  // <s>, </s>, <unk>, <pad>
                kept.append(i)
            }
            var out = Matrix(zeros: kept.count, d)
            for (r, i) in kept.enumerated() {
                var ms = 0.0
                for j in 0..<d { ms += embed[i, j] * embed[i, j] }
                let inv = 1 / (ms / Double(d) + eps).squareRoot()
                for j in 0..<d { out[r, j] = embed[i, j] * inv * gamma[j] }
            }
            return TokenEmbeddingTable(architecture: .llama, hiddenSize: d, tokens: kept.map { names[$0] },
                                       vectors: out, source: name)
        default:
            throw TokenEmbeddingError(.unsupportedModel,
                "base model type '\(modelType)' in \(configURL.path) is not supported (bert, llama, mistral, qwen2)")
        }
    }

    /// Without a tokenizer.json, ids below 256 are shown as the byte they would be in a byte-level
    /// vocabulary (printable ASCII as itself), other ids as "#id".
    static func fallbackTokenName(_ id: Int) -> String {
        if id >= 33 && id < 127, let scalar = Unicode.Scalar(id) { return String(Character(scalar)) }
        if id < 256 { return String(format: "byte 0x%02X", id) }
        return "#\(id)"
    }

    private static func readLines(_ url: URL) throws -> [String] {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw TokenEmbeddingError(.missingFile, "cannot read \(url.path) as UTF-8 text")
        }
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        return lines.map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 }
    }

    private static func llamaTokenStrings(_ url: URL, count: Int) throws -> [String] {
        let data = try Data(contentsOf: url)
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let model = root["model"] as? [String: Any],
              let vocab = model["vocab"] as? [String: Any] else {
            throw TokenEmbeddingError(.malformedFile, "\(url.path) has no model.vocab")
        }
        var names = (0..<count).map { "#\($0)" }
        for (token, id) in vocab {
            if let i = (id as? Int) ?? (id as? NSNumber)?.intValue, i >= 0, i < count { names[i] = token }
        }
        if let added = root["added_tokens"] as? [[String: Any]] {
            for t in added {
                if let i = t["id"] as? Int, let c = t["content"] as? String, i >= 0, i < count { names[i] = c }
            }
        }
        return names
    }
}

/// A read-only view of a base model's safetensors file that decodes selected floating-point tensors.
/// Unlike adapter files, base model files may hold integer tensors (e.g. BERT's position_ids); those are
/// skipped, never decoded. Offsets and sizes are bounds- and overflow-checked.
struct BaseModelTensorFile {
    struct Entry {
        let dtype: String
        let shape: [Int]
        let begin: Int
        let end: Int
    }
    let url: URL
    let data: Data
    let dataStart: Int
    let entries: [String: Entry]

    init(url: URL) throws {
        self.url = url
        guard let data = try? Data(contentsOf: url, options: .alwaysMapped) else {
            throw TokenEmbeddingError(.missingFile, "cannot read \(url.path)")
        }
        self.data = data
        guard data.count >= 8 else { throw TokenEmbeddingError(.malformedFile, "\(url.path) is shorter than 8 bytes") }
        var n: UInt64 = 0
        for k in 0..<8 { n |= UInt64(data[data.startIndex + k]) << (8 * UInt64(k)) }
        guard n <= 100_000_000, Int(n) <= data.count - 8 else {
            throw TokenEmbeddingError(.malformedFile, "\(url.path): header length \(n) exceeds the file")
        }
        let headerData = data.subdata(in: (data.startIndex + 8)..<(data.startIndex + 8 + Int(n)))
        guard let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw TokenEmbeddingError(.malformedFile, "\(url.path): header is not a JSON object")
        }
        dataStart = 8 + Int(n)
        let bufferLength = data.count - dataStart
        var entries: [String: Entry] = [:]
        for (name, value) in header where name != "__metadata__" {
            guard let e = value as? [String: Any], let dtype = e["dtype"] as? String,
                  let shape = e["shape"] as? [Int], let offsets = e["data_offsets"] as? [Int], offsets.count == 2,
                  offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= bufferLength,
                  shape.allSatisfy({ $0 >= 0 }) else {
                throw TokenEmbeddingError(.malformedFile, "\(url.path): tensor '\(name)' has a malformed header entry")
            }
            entries[name] = Entry(dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1])
        }
        self.entries = entries
    }

    private func entry(_ names: [String]) throws -> (String, Entry) {
        for n in names { if let e = entries[n] { return (n, e) } }
        throw TokenEmbeddingError(.malformedFile, "\(url.path) has no tensor named \(names.joined(separator: " or "))")
    }

    private func decode(_ name: String, _ e: Entry, count: Int) throws -> [Double] {
        let width: Int
        switch e.dtype {
        case "F32": width = 4
        case "F16", "BF16": width = 2
        default:
            throw TokenEmbeddingError(.malformedFile, "tensor '\(name)' has dtype \(e.dtype); adapterd reads F32, F16, BF16")
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: width)
        guard !overflow, bytes == e.end - e.begin else {
            throw TokenEmbeddingError(.malformedFile, "tensor '\(name)': shape \(e.shape) does not match its \(e.end - e.begin) bytes")
        }
        var out = [Double](repeating: 0, count: count)
        let base = data.startIndex + dataStart + e.begin
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            guard let start = raw.baseAddress else { return }
            let p = start.advanced(by: base - data.startIndex)
            for i in 0..<count {
                switch width {
                case 4:
                    let bits = p.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self).littleEndian
                    out[i] = Double(Float(bitPattern: bits))
                default:
                    let bits = p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian
                    out[i] = e.dtype == "BF16" ? Double(Float(bitPattern: UInt32(bits) << 16)) : halfToDouble(bits)
                }
            }
        }
        return out
    }

    func matrix(named names: [String]) throws -> Matrix {
        let (name, e) = try entry(names)
        guard e.shape.count == 2 else {
            throw TokenEmbeddingError(.malformedFile, "tensor '\(name)' has shape \(e.shape); expected 2 dimensions")
        }
        let (count, overflow) = e.shape[0].multipliedReportingOverflow(by: e.shape[1])
        guard !overflow else { throw TokenEmbeddingError(.malformedFile, "tensor '\(name)' is too large") }
        return Matrix(rows: e.shape[0], cols: e.shape[1], elements: try decode(name, e, count: count))
    }

    func vector(named names: [String]) throws -> [Double] {
        let (name, e) = try entry(names)
        guard e.shape.count == 1 else {
            throw TokenEmbeddingError(.malformedFile, "tensor '\(name)' has shape \(e.shape); expected 1 dimension")
        }
        return try decode(name, e, count: e.shape[0])
    }
}

/// IEEE 754 half precision bits to Double.
func halfToDouble(_ h: UInt16) -> Double {
    let sign: Double = (h & 0x8000) != 0 ? -1 : 1
    let exponent = Int((h >> 10) & 0x1F)
    let fraction = Double(h & 0x3FF)
    switch exponent {
    case 0: return sign * fraction * 0x1p-24
    case 31: return fraction == 0 ? sign * .infinity : .nan
    default: return sign * (1 + fraction / 1024) * Double(sign: .plus, exponent: exponent - 15, significand: 1)
    }
}
