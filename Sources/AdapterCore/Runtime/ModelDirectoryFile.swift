import Foundation

/// Reading the JSON files of a Hugging Face / sentence-transformers model directory (config.json,
/// tokenizer.json, tokenizer_config.json, …) with the strict parser: duplicate keys are refused and
/// integers are told apart from other numbers.
enum ModelDirectoryFile {
    /// The top-level object of `directory/name`; nil when the file is absent and not required.
    static func jsonObject(_ directory: URL, _ name: String, required: Bool) throws(ModelRuntimeError) -> JSONFields? {
        let url = directory.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            if required {
                throw ModelRuntimeError(.unreadableFile, "the model directory '\(directory.path)' has no \(name)")
            }
            return nil
        }
        return try jsonObject(at: url, invalid: .invalidConfiguration)
    }

    /// The top-level object of the file at `url`; a file that is not a JSON object is an `invalid` error.
    static func jsonObject(at url: URL, invalid: ModelRuntimeError.Code) throws(ModelRuntimeError) -> JSONFields {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ModelRuntimeError(.unreadableFile, "cannot read '\(url.path)': \(error.localizedDescription)")
        }
        let parsed: StrictJSON.Value
        do {
            parsed = try StrictJSON.parse(data)
        } catch {
            throw ModelRuntimeError(invalid, "'\(url.path)' is not valid JSON: \(error.description)")
        }
        guard let fields = JSONFields(parsed, source: url.lastPathComponent, invalid: invalid) else {
            throw ModelRuntimeError(invalid, "'\(url.path)' is \(parsed.kindName), not a JSON object")
        }
        return fields
    }
}
