import Foundation

/// The tensors of a base model: model.safetensors, or the shards model.safetensors.index.json lists,
/// each memory-mapped and validated by `SafeTensorsFile`. Tensors are decoded (F32, F16 or BF16) into
/// owned single-precision arrays when a model asks for them, with their shapes checked — so a model
/// keeps nothing mapped once loaded, and a file replaced or truncated later cannot fault its forward
/// passes.
public struct BaseModelWeights: Sendable {
    public static let singleFileName = "model.safetensors"
    public static let indexFileName = "model.safetensors.index.json"

    /// Where the tensors come from, for error messages.
    public let source: String
    private let files: [SafeTensorsFile]
    private let fileNames: [String]
    private let fileByTensor: [String: Int]

    /// The weights of a model directory: model.safetensors if present, else the shards named by
    /// model.safetensors.index.json (plain file names inside the directory).
    public init(modelDirectory: URL) throws(ModelRuntimeError) {
        let single = modelDirectory.appendingPathComponent(Self.singleFileName)
        if FileManager.default.fileExists(atPath: single.path) {
            try self.init(file: single)
            return
        }
        let indexURL = modelDirectory.appendingPathComponent(Self.indexFileName)
        guard FileManager.default.fileExists(atPath: indexURL.path) else {
            throw ModelRuntimeError(.unreadableFile,
                "the model directory '\(modelDirectory.path)' has neither \(Self.singleFileName) nor \(Self.indexFileName)")
        }
        let index = try ModelDirectoryFile.jsonObject(at: indexURL, invalid: .invalidWeights)
        guard let map = try index.object("weight_map") else {
            throw ModelRuntimeError(.invalidWeights, "\(Self.indexFileName) has no weight_map")
        }
        var fileNames: [String] = []
        var fileIndex: [String: Int] = [:]
        var byTensor: [String: Int] = [:]
        for member in map.members {
            guard let name = member.value.string else { throw map.error(member.key, "a shard file name") }
            guard !name.isEmpty, !name.contains("/"), name != ".", name != "..", name.hasSuffix(".safetensors") else {
                throw ModelRuntimeError(.invalidWeights,
                    "\(Self.indexFileName) names the shard '\(name)'; a .safetensors file name inside the model directory was expected")
            }
            if fileIndex[name] == nil {
                fileIndex[name] = fileNames.count
                fileNames.append(name)
            }
            byTensor[member.key] = fileIndex[name]
        }
        var files: [SafeTensorsFile] = []
        for name in fileNames {
            files.append(try Self.open(modelDirectory.appendingPathComponent(name)))
        }
        for (tensor, file) in byTensor where files[file].tensor(named: tensor) == nil {
            throw ModelRuntimeError(.invalidWeights,
                "\(Self.indexFileName) places '\(tensor)' in \(fileNames[file]), which has no such tensor")
        }
        self.init(source: modelDirectory.path, files: files, fileNames: fileNames, fileByTensor: byTensor)
    }

    /// The weights of one safetensors file.
    public init(file url: URL) throws(ModelRuntimeError) {
        let file = try Self.open(url)
        var byTensor: [String: Int] = [:]
        for info in file.tensors { byTensor[info.name] = 0 }
        self.init(source: url.path, files: [file], fileNames: [url.lastPathComponent], fileByTensor: byTensor)
    }

    private init(source: String, files: [SafeTensorsFile], fileNames: [String], fileByTensor: [String: Int]) {
        self.source = source
        self.files = files
        self.fileNames = fileNames
        self.fileByTensor = fileByTensor
    }

    private static func open(_ url: URL) throws(ModelRuntimeError) -> SafeTensorsFile {
        do {
            return try SafeTensorsFile(contentsOf: url)
        } catch {
            throw ModelRuntimeError(error.code == .unreadableFile ? .unreadableFile : .invalidWeights,
                                    "cannot load the weights '\(url.path)': \(error.message)")
        }
    }

    /// Names of all tensors, sorted.
    public var tensorNames: [String] { fileByTensor.keys.sorted() }

    public func contains(_ name: String) -> Bool { fileByTensor[name] != nil }

    /// The shape of a tensor, nil when there is none of that name.
    public func shape(of name: String) -> [Int]? {
        fileByTensor[name].flatMap { files[$0].tensor(named: name)?.shape }
    }

    /// The first of `prefixes` under which `anchor` exists (e.g. "bert." or "" before
    /// "embeddings.word_embeddings.weight"), nil when none.
    public func prefix(of anchor: String, among prefixes: [String]) -> String? {
        prefixes.first { contains($0 + anchor) }
    }

    /// A tensor decoded to single precision, row-major, after checking its shape.
    public func floats(_ name: String, shape: [Int]) throws(ModelRuntimeError) -> [Float] {
        guard let file = fileByTensor[name].map({ files[$0] }), let info = file.tensor(named: name) else {
            throw ModelRuntimeError(.invalidWeights, "'\(source)' has no tensor '\(name)'")
        }
        guard info.shape == shape else {
            throw ModelRuntimeError(.invalidWeights,
                "tensor '\(name)' has shape \(info.shape); the model configuration needs \(shape)")
        }
        do {
            return try file.floats(name)
        } catch {
            throw ModelRuntimeError(.invalidWeights, "tensor '\(name)' of '\(source)': \(error.message)")
        }
    }
}
