import Foundation

/// Finds and loads the tokenizer of a model directory:
/// 1. tokenizer.json — its model type decides: BPE → `BPETokenizer`, WordPiece → `WordPieceTokenizer`;
///    other types (Unigram, WordLevel) are refused with `.unsupportedTokenizer`;
/// 2. else tokenizer_words.json → `WordLevelTokenizer` (the corpus's llama-tiny);
/// 3. else vocab.txt → `WordPieceTokenizer` with the sentence-transformers settings beside it.
public enum TokenizerLoader {
    public static func load(modelDirectory: URL) throws(ModelRuntimeError) -> any Tokenizer {
        let fm = FileManager.default
        let json = modelDirectory.appendingPathComponent("tokenizer.json")
        if fm.fileExists(atPath: json.path) {
            let definition = try TokenizerDefinition(file: json)
            switch definition.modelType {
            case "BPE": return try BPETokenizer(definition: definition)
            case "WordPiece": return try WordPieceTokenizer(definition: definition)
            default:
                throw ModelRuntimeError(.unsupportedTokenizer,
                    "tokenizer.json of '\(modelDirectory.path)' has a \(definition.modelType) model; the runtime implements BPE (byte-level) and WordPiece")
            }
        }
        let words = modelDirectory.appendingPathComponent(WordLevelTokenizer.fileName)
        if fm.fileExists(atPath: words.path) {
            return try WordLevelTokenizer(file: words)
        }
        if fm.fileExists(atPath: modelDirectory.appendingPathComponent("vocab.txt").path) {
            return try WordPieceTokenizer(modelDirectory: modelDirectory)
        }
        throw ModelRuntimeError(.unreadableFile,
            "the model directory '\(modelDirectory.path)' has no tokenizer.json, \(WordLevelTokenizer.fileName) or vocab.txt")
    }
}
