import AdapterCore
import Foundation

/// Makes trained models adapterd's built-in defaults (`adapterctl detector emit-default`): checks that
/// the first needs only the adapter's weights and the second the base model's token embeddings, and
/// writes them as the files `DefaultDetectorModels` reads — into Sources/AdapterCore/Resources for the
/// next build, or into an installation's share/adapterd.
public enum DefaultDetectorModelFiles {
    /// Writes the model files into `directory` (atomically, one after the other) and returns their
    /// paths. Without a token model, a token model file already there is removed, so the directory
    /// holds exactly the defaults given.
    @discardableResult
    public static func write(weightsOnly: DetectorModel, withTokens: DetectorModel?, to directory: URL) throws -> [URL] {
        guard let first = DetectorFeatureSet(rawValue: weightsOnly.featureSet), !first.needsBaseModel else {
            throw DetectorError(.malformedModel,
                "the weights-only default must not need a base model (its feature set is \(weightsOnly.featureSet))")
        }
        if let withTokens, DetectorFeatureSet(rawValue: withTokens.featureSet)?.needsBaseModel != true {
            throw DetectorError(.malformedModel,
                "the second default must use the base model's embeddings (its feature set is \(withTokens.featureSet))")
        }
        let weightsURL = directory.appendingPathComponent(DefaultDetectorModels.weightsOnlyFile, isDirectory: false)
        let tokensURL = directory.appendingPathComponent(DefaultDetectorModels.withTokensFile, isDirectory: false)
        try file(weightsOnly).write(to: weightsURL, options: .atomic)
        guard let withTokens else {
            if FileManager.default.fileExists(atPath: tokensURL.path) { try FileManager.default.removeItem(at: tokensURL) }
            return [weightsURL]
        }
        try file(withTokens).write(to: tokensURL, options: .atomic)
        return [weightsURL, tokensURL]
    }

    /// A model file's bytes: the model's JSON and a final newline.
    static func file(_ model: DetectorModel) throws -> Data {
        try model.encoded() + Data("\n".utf8)
    }
}
