import Foundation

/// Reads corpus adapters for featurising. Featurising a whole labelled corpus
/// (`features(of:featureSets:tokenTables:jobs:progress:)`) is offline training and lives in
/// AdapterTraining; the scanner reads its adapters with `loadAdapter` too.
public enum CorpusFeaturizer {
    /// Reads one PEFT adapter directory.
    public static func loadAdapter(_ directory: URL) throws -> LoRAAdapter {
        try PEFTAdapterLoader.load(directory: directory)
    }
}
