/// Why a safetensors buffer was refused or a tensor could not be read or written.
///
/// Each rule of the reference reader has its own `Code`, so callers and tests can tell them apart.
public typealias SafeTensorsError = CodedError<SafeTensorsErrorCode>

/// The kinds of `SafeTensorsError`.
public enum SafeTensorsErrorCode: String, CaseIterable, ErrorCode {
    /// The file could not be opened or read.
    case unreadableFile
    /// Fewer than the 8 bytes of the header-length prefix.
    case fileTooSmall
    /// The header length N exceeds 100,000,000 bytes.
    case headerTooLarge
    /// 8 + N runs past the end of the buffer.
    case headerPastEnd
    /// The header bytes are not valid UTF-8.
    case headerNotUTF8
    /// The header is not valid JSON (includes nesting deeper than 128 levels).
    case headerNotJSON
    /// The header is JSON but not an object (it must start with `{`).
    case headerNotObject
    /// A tensor entry is not exactly `{"dtype", "shape", "data_offsets"}` with the right types.
    case invalidTensorEntry
    /// A dtype string the format does not define.
    case unknownDType
    /// `__metadata__` is not an object of string → string.
    case invalidMetadata
    /// The same tensor name appears twice.
    case duplicateTensorName
    /// A shape dimension is negative, not an integer, or too large.
    case invalidShape
    /// `data_offsets` is not `[begin, end]` with 0 ≤ begin ≤ end.
    case invalidDataOffsets
    /// Sorted by offset, a tensor does not start where the previous one ended (a gap or an overlap),
    /// or the first does not start at 0.
    case offsetsNotContiguous
    /// shape × dtype size overflows.
    case sizeOverflow
    /// shape × dtype size differs from end − begin.
    case sizeMismatch
    /// The buffer length is not 8 + N + the last tensor's end (trailing or missing bytes).
    case fileLengthMismatch
    /// No tensor of that name.
    case tensorNotFound
    /// The tensor's dtype cannot be read as floating-point values (only F32, F16, BF16 can).
    case unsupportedDType
    /// The tensor is not two-dimensional where a matrix was asked for.
    case notAMatrix
    /// Writer: the values do not fit the shape, the shape is invalid, or the name is reserved.
    case invalidTensor
    /// Writer: a value is NaN/infinite or does not fit the chosen dtype.
    case valueNotRepresentable
    /// Writer: the file could not be written.
    case writeFailed

    public static var descriptionPrefix: String { "safetensors: " }
}
