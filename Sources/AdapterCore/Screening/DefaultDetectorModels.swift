import Foundation

/// The detector models that ship with adapterd, trained on the committed corpus (data/corpus; see
/// docs/DETECTOR.md): two model files, resources of AdapterCore found with `ShippedFiles` (the
/// resource bundle of a build tree, or `share/adapterd` of an installation).
public enum DefaultDetectorModels {
    /// The model that needs only the adapter's weights; every installation has it.
    public static let weightsOnlyFile = "default-detector-weights-only.json"
    /// The model that also reads the base model's token embeddings, kept beside the weights-only one;
    /// an installation may lack it.
    public static let withTokensFile = "default-detector-with-tokens.json"

    /// Where the built-in models are looked for, in order (see `ShippedFiles`).
    public static var searchDirectories: [URL] {
        ShippedFiles.directories(executable: ShippedFiles.currentExecutable)
    }

    /// The model that needs only the adapter's weights.
    public static func weightsOnly() throws -> DetectorModel {
        try weightsOnly(searching: searchDirectories)
    }

    /// The model that also uses the base model's token embeddings, if one is installed.
    public static func withTokens() throws -> DetectorModel? {
        try withTokens(searching: searchDirectories)
    }

    /// The token model when base-model embeddings are available and one is installed, else weights-only.
    public static func model(forBaseModel available: Bool) throws -> DetectorModel {
        if available, let m = try withTokens() { return m }
        return try weightsOnly()
    }

    /// The weights-only model from the first of `directories` that has it; `missingModel`, naming every
    /// directory, when none has.
    public static func weightsOnly(searching directories: [URL]) throws -> DetectorModel {
        try DetectorModel.load(from: try weightsOnlyURL(searching: directories))
    }

    /// The token model beside the weights-only one; nil when that directory has none.
    public static func withTokens(searching directories: [URL]) throws -> DetectorModel? {
        let file = try weightsOnlyURL(searching: directories).deletingLastPathComponent()
            .appendingPathComponent(withTokensFile, isDirectory: false)
        guard FileManager.default.fileExists(atPath: file.path) else { return nil }
        return try DetectorModel.load(from: file)
    }

    private static func weightsOnlyURL(searching directories: [URL]) throws -> URL {
        guard let file = ShippedFiles.locate(weightsOnlyFile, in: directories) else {
            throw DetectorError(.missingModel,
                "the built-in detector model \(weightsOnlyFile) is not installed: looked in "
                + directories.map(\.path).joined(separator: ", ")
                + "; install it beside the binaries (tools/install.sh puts it in <prefix>/share/adapterd) "
                + "or give a model file")
        }
        return file
    }
}
