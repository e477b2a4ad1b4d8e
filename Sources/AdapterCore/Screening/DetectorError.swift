/// Why screening an adapter or using a detector model failed.
public typealias DetectorError = CodedError<DetectorErrorCode>

/// The kinds of `DetectorError`.
public enum DetectorErrorCode: ErrorCode {
    /// The model file is not valid JSON or violates the schema.
    case malformedModel
    /// A model file adapterd ships is not installed where it is looked for.
    case missingModel
    /// The model needs something the caller did not provide (e.g. base-model embeddings).
    case missingBaseModel
    /// The adapter's shapes do not fit the provided base model.
    case baseModelMismatch
    /// The adapter cannot be scored meaningfully (used inside feature extraction).
    case outOfDistribution
    /// Training or evaluation data is unusable.
    case invalidTrainingData
}
