/// The sentence embedder's errors are the runtime's (`ModelRuntimeError`): the embedder is a user of
/// the base-model runtime, and this name is kept for callers that catch it.
public typealias EmbeddingError = ModelRuntimeError
