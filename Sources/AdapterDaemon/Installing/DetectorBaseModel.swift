import AdapterCore
import Foundation

/// The base model whose token embeddings the detector reads (`detector-base-model = DIR`): the
/// directory it was loaded from and its token table. Loaded once at start-up (and again on SIGHUP only
/// when the configured path changes); immutable and shared by every screening.
public struct DetectorBaseModel: Sendable {
    /// The configured directory, as given.
    public let path: String
    public let table: TokenEmbeddingTable

    public init(path: String, table: TokenEmbeddingTable) {
        self.path = path
        self.table = table
    }

    /// Reads the token-embedding table of the base model directory at `path` (config.json,
    /// model.safetensors, vocab.txt or tokenizer.json: what `adapterctl scan --base-model` reads).
    public static func load(path: String) throws(DaemonError) -> DetectorBaseModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DaemonError("detector-base-model \(path) is not a directory; give the base model's directory "
                + "(config.json and model.safetensors, as for adapterctl scan --base-model)")
        }
        do {
            return DetectorBaseModel(path: path, table: try TokenEmbeddingTable.load(directory: URL(fileURLWithPath: path, isDirectory: true)))
        } catch let error as TokenEmbeddingError {
            throw DaemonError("cannot read the token embeddings of detector-base-model \(path): \(error.message)")
        } catch {
            throw DaemonError("cannot read the token embeddings of detector-base-model \(path): \(error.localizedDescription)")
        }
    }

    /// e.g. "llama-128, 921 tokens": the architecture and width adapters must have to be screened with it.
    public var shape: String { "\(table.architecture.rawValue)-\(table.hiddenSize), \(table.tokens.count) tokens" }

    /// For status and verdicts: the directory and its shape.
    public var summary: String { "\(path) (\(shape))" }

    /// Whether `other` names the same directory (reload keeps the loaded table then).
    func isSame(path other: String) -> Bool {
        URL(fileURLWithPath: path).standardizedFileURL.path == URL(fileURLWithPath: other).standardizedFileURL.path
    }
}
