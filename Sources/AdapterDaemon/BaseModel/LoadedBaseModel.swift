import AdapterCore
import AdapterStore
import Foundation

/// The base model the daemon runs (setting `base-model`), loaded once: its forward passes make the
/// tasks' input sketches for the data-aware evaluator and run the behavioural screen, and its token
/// table feeds the detector's token features. `identity` names the model's files, so that sketches
/// made with another model are never used.
struct LoadedBaseModel: Sendable {
    let directory: String
    /// sha256 over config.json and the names and sizes of the directory's weight and tokenizer files.
    let identity: String
    let sketcher: TaskInputSketcher
    /// The first-layer inputs of the vocabulary (for trigger candidates and the detector's token features).
    let table: TokenEmbeddingTable
    /// The tasks' label heads and own-adapter scores the label-probability evaluator read on this
    /// model, kept from one plan to the next.
    let labelReferences = LabelProbabilityEvaluator.References()

    /// Loads the model (its linear maps multiplying in `precision`), its tokenizer and its token table.
    /// Throws the runtime's error (a clear message) when the directory is not a model the runtime
    /// implements.
    static func load(directory: String, precision: RuntimePrecision) throws -> LoadedBaseModel {
        let url = URL(fileURLWithPath: directory)
        let sketcher = try TaskInputSketcher(modelDirectory: url, precision: precision)
        return LoadedBaseModel(directory: directory, identity: try identity(of: url), sketcher: sketcher,
                               table: try TokenEmbeddingTable.load(directory: url))
    }

    /// The behavioural probe on this model (the same runtime the sketches use).
    var probe: BehaviouralProbe {
        BehaviouralProbe(model: sketcher.model, tokenizer: sketcher.encoding.tokenizer, table: table)
    }

    /// The detector's view of this model: its directory and token table.
    var detectorBaseModel: DetectorBaseModel { DetectorBaseModel(path: directory, table: table) }

    /// The model's family, size and precision, for status lines.
    var summary: String {
        let products = sketcher.model.precision.summary
        switch sketcher.model {
        case .bert(let model):
            return "BERT, \(model.configuration.layerCount) layers, hidden \(model.configuration.hiddenSize), \(products)"
        case .decoder(let model):
            return "decoder, \(model.configuration.layerCount) layers, hidden \(model.configuration.hiddenSize), \(products)"
        }
    }

    private static func identity(of directory: URL) throws -> String {
        var text = try Data(contentsOf: directory.appendingPathComponent("config.json"))
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        for name in names where name.hasSuffix(".safetensors") || name.hasSuffix(".json") || name.hasSuffix(".txt") {
            let size = (try? FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent(name).path)[.size]
                        as? Int) ?? -1
            text.append(Data("\n\(name) \(size)".utf8))
        }
        return ContentDigest.of(text).hex
    }
}

/// What the daemon has of its base model: none configured, loaded, or configured but unusable (and why).
enum BaseModelState: Sendable {
    case notConfigured
    case loaded(LoadedBaseModel)
    case unusable(directory: String, reason: String)

    /// Loads the configured model, keeping `previous` when it is the same directory already loaded in
    /// the same precision.
    static func make(_ settings: DaemonSettings, reusing previous: BaseModelState? = nil) -> BaseModelState {
        guard let directory = settings.baseModel else { return .notConfigured }
        let precision = settings.runtimePrecision.resolved
        if case .loaded(let model) = previous, model.directory == directory, model.sketcher.model.precision == precision {
            return .loaded(model)
        }
        do {
            return .loaded(try LoadedBaseModel.load(directory: directory, precision: precision))
        } catch {
            return .unusable(directory: directory, reason: "\(error)")
        }
    }

    var model: LoadedBaseModel? {
        if case .loaded(let model) = self { model } else { nil }
    }
}
