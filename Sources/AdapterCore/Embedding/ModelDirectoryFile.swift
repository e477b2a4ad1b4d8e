import Foundation

/// Reading the small JSON config files of a Hugging Face / sentence-transformers model directory.
enum ModelDirectoryFile {
    /// The top-level object of `directory/name`; nil when the file is absent and not required.
    static func jsonObject(_ directory: URL, _ name: String, required: Bool) throws(EmbeddingError) -> [String: Any]? {
        let url = directory.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            if required {
                throw EmbeddingError(.unreadableFile, "the model directory '\(directory.path)' has no \(name)")
            }
            return nil
        }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw EmbeddingError(.unreadableFile, "cannot read '\(url.path)': \(error.localizedDescription)")
        }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw EmbeddingError(.invalidConfiguration, "'\(url.path)' is not valid JSON: \(error.localizedDescription)")
        }
        guard let object = parsed as? [String: Any] else {
            throw EmbeddingError(.invalidConfiguration, "'\(url.path)' is not a JSON object")
        }
        return object
    }
}
