import Foundation

/// A base model's architecture as its config.json names it (`model_type`): a BERT encoder or a
/// Llama-style decoder. Any other model type is refused with `.unsupportedModel`.
public enum ModelConfiguration: Sendable, Hashable {
    case bert(BertConfiguration)
    case decoder(DecoderConfiguration)

    /// Reads config.json of a model directory and dispatches on `model_type`.
    public init(modelDirectory: URL) throws(ModelRuntimeError) {
        guard let fields = try ModelDirectoryFile.jsonObject(modelDirectory, "config.json", required: true) else {
            throw ModelRuntimeError(.unreadableFile, "the model directory '\(modelDirectory.path)' has no config.json")
        }
        guard let type = try fields.string("model_type") else {
            throw ModelRuntimeError(.invalidConfiguration, "'\(modelDirectory.path)/config.json' has no model_type")
        }
        if type == "bert" {
            self = .bert(try BertConfiguration(fields: fields))
        } else if DecoderConfiguration.Family(rawValue: type) != nil {
            self = .decoder(try DecoderConfiguration(fields: fields))
        } else {
            throw ModelRuntimeError(.unsupportedModel,
                "config.json: model_type '\(type)' is not implemented; the runtime implements bert, "
                    + DecoderConfiguration.Family.allCases.map(\.rawValue).joined(separator: ", "))
        }
    }
}
