import Foundation

extension JSONValue {
    /// The JSON value of an encodable Swift value.
    public init<T: Encodable>(encoding value: T) throws {
        let data = try JSONCoding.encoder.encode(value)
        self = try JSONCoding.decoder.decode(JSONValue.self, from: data)
    }

    /// Decodes this value as a Swift type.
    public func decode<T: Decodable>(as type: T.Type) throws -> T {
        let data = try JSONCoding.encoder.encode(self)
        return try JSONCoding.decoder.decode(type, from: data)
    }
}

/// The encoder and decoder used for every protocol message (sorted keys, no escaping of slashes).
public enum JSONCoding {
    public static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public static var decoder: JSONDecoder { JSONDecoder() }

    /// One encoder configured as `encoder`, shared by the hot paths that encode per request (an
    /// encoder's options are fixed here, so sharing it is safe).
    public static let sharedEncoder: JSONEncoder = encoder
}
