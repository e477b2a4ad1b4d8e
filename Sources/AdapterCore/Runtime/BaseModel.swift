import Foundation

/// A loaded base model of any family the runtime implements, as its config.json names it: a BERT
/// encoder or a Llama-style decoder.
public enum BaseModel: Sendable {
    case bert(BertModel)
    case decoder(DecoderModel)

    /// Loads config.json and the weights of a model directory (`ModelConfiguration` decides the family);
    /// its linear maps multiply in `precision`.
    public init(modelDirectory: URL, precision: RuntimePrecision = .float32) throws(ModelRuntimeError) {
        let weights = try BaseModelWeights(modelDirectory: modelDirectory)
        switch try ModelConfiguration(modelDirectory: modelDirectory) {
        case .bert(let configuration):
            self = .bert(try BertModel(configuration: configuration, weights: weights, precision: precision))
        case .decoder(let configuration):
            self = .decoder(try DecoderModel(configuration: configuration, weights: weights, precision: precision))
        }
    }

    /// What the linear maps multiply in.
    public var precision: RuntimePrecision {
        switch self {
        case .bert(let model): model.precision
        case .decoder(let model): model.precision
        }
    }

    /// The names of the linear maps an adapter may adapt, sorted.
    public var adaptableLinearNames: [String] {
        switch self {
        case .bert(let model): model.adaptableLinearNames
        case .decoder(let model): model.adaptableLinearNames
        }
    }

    /// The last hidden states of each sequence (tokens × hidden, row-major) with `adapter` applied:
    /// BERT's last layer, or a decoder's output of its final norm.
    public func hiddenStates(_ sequences: [[Int32]], adapter: FactoredLoRA? = nil,
                             observer: (any LinearInputObserver)? = nil) throws(ModelRuntimeError) -> [[Float]] {
        switch self {
        case .bert(let model): try model.hiddenStates(sequences, adapter: adapter, observer: observer)
        case .decoder(let model): try model.forward(sequences, adapter: adapter, logits: .none, observer: observer).map(\.hiddenStates)
        }
    }

    /// The weights of the transformer layers' linear maps: the multiply-adds each token costs a forward
    /// pass, embeddings and output head aside (MiniLM-L6: 10.6 M; Llama-3.2-1B: 973 M).
    public var layerParameterCount: Int {
        switch self {
        case .bert(let model):
            let c = model.configuration
            return c.layerCount * (4 * c.hiddenSize * c.hiddenSize + 2 * c.hiddenSize * c.intermediateSize)
        case .decoder(let model):
            let c = model.configuration
            let attention = c.hiddenSize * (2 * c.attentionWidth + 2 * c.keyValueWidth)
            return c.layerCount * (attention + 3 * c.hiddenSize * c.intermediateSize)
        }
    }

    /// The name this model gives the linear map an adapter module path names (BERT: without a `bert.`
    /// prefix; decoders: `layers.…` as `model.layers.…`); other names are returned unchanged.
    public var canonicalLinearName: @Sendable (String) -> String {
        switch self {
        case .bert: BertModel.canonicalLinearName
        case .decoder: DecoderModel.canonicalLinearName
        }
    }
}
