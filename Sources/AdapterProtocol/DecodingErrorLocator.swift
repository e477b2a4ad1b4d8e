import Foundation

/// A value JSONDecoder read but could not convert to the type wanted: a number out of the type's
/// range or not an integer (`1e30`, `99999999999999999999`, `1.5` for an Int64; `1e400` for a
/// Double), or a string with an unpaired surrogate escape (`"\ud800"`) or an unknown escape (`"\x"`),
/// which JSONDecoder finds only when it decodes the string.
struct UnrepresentableValue: Error {
    /// Where the value is, e.g. `params.bytes`.
    let codingPath: [CodingKey]
    /// The type the value was read as.
    let wanted: Any.Type

    /// What the value must be, e.g. "an integer from -9223372036854775808 to 9223372036854775807".
    var requirement: String {
        if let integer = wanted as? any FixedWidthInteger.Type {
            return "an integer from \(integer.min) to \(integer.max)"
        }
        if wanted == Double.self { return "a number between \(-Double.greatestFiniteMagnitude) and \(Double.greatestFiniteMagnitude)" }
        if wanted == Float.self { return "a number between \(-Float.greatestFiniteMagnitude) and \(Float.greatestFiniteMagnitude)" }
        if wanted == String.self {
            return #"a JSON string with valid escapes (\" \\ \/ \b \f \n \r \t \uXXXX; a \ud800-\udbff escape followed by a \udc00-\udfff one)"#
        }
        return "a valid \(wanted)"
    }
}

/// Finds the member a JSONDecoder error without a place is about.
///
/// Foundation's JSONDecoder reports a value it cannot convert (see `UnrepresentableValue`) as
/// "The given data was not valid JSON." with an empty coding path, although the text is valid JSON;
/// a client would not know which member to fix. Decoding again through a decoder that wraps every
/// container and turns that error into an `UnrepresentableValue` at the member being decoded names
/// the member and the type wanted. Used on the error path only.
enum DecodingErrorLocator {
    /// True for the error JSONDecoder gives without saying where (also for text that is not JSON).
    static func isUnlocated(_ error: Error) -> Bool {
        if case DecodingError.dataCorrupted(let context) = error { return context.codingPath.isEmpty }
        return false
    }

    /// The unconvertible value that made decoding `type` from `data` fail; nil when there is none
    /// (e.g. the text is not JSON at all, or decoding succeeds).
    static func locate<T: Decodable>(_ type: T.Type, in data: Data) -> UnrepresentableValue? {
        do {
            _ = try JSONCoding.decoder.decode(Probe<T>.self, from: data)
        } catch let error as UnrepresentableValue {
            return error
        } catch {}
        return nil
    }

    /// Decodes `T` through `LocatingDecoder`.
    private struct Probe<T: Decodable>: Decodable {
        init(from decoder: Decoder) throws {
            _ = try T(from: LocatingDecoder(base: decoder))
        }
    }
}

/// Runs `body` (one conversion of a value at `path` to `type`), turning a failure that is not a
/// `DecodingError` (Foundation's internal JSON errors) into an `UnrepresentableValue` there.
private func locating<T>(_ path: [CodingKey], _ type: Any.Type, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as DecodingError {
        throw error
    } catch let error as UnrepresentableValue {
        throw error
    } catch {
        throw UnrepresentableValue(codingPath: path, wanted: type)
    }
}

/// Types JSONDecoder decodes with its own strategies rather than their `init(from:)`: decoded by the
/// wrapped container as they are.
private func isDecodedSpecially(_ type: Any.Type) -> Bool {
    type == Data.self || type == Date.self || type == URL.self || type == Decimal.self
}

private struct IndexKey: CodingKey {
    var intValue: Int?
    var stringValue: String { intValue.map(String.init) ?? "" }
    init(intValue: Int) { self.intValue = intValue }
    init?(stringValue: String) { return nil }
}

private struct LocatingDecoder: Decoder {
    let base: Decoder
    var codingPath: [CodingKey] { base.codingPath }
    var userInfo: [CodingUserInfoKey: Any] { base.userInfo }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(LocatingKeyedContainer(base: try base.container(keyedBy: type)))
    }

    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        LocatingUnkeyedContainer(base: try base.unkeyedContainer())
    }

    func singleValueContainer() throws -> SingleValueDecodingContainer {
        LocatingSingleValueContainer(base: try base.singleValueContainer())
    }
}

private struct LocatingKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let base: KeyedDecodingContainer<Key>
    var codingPath: [CodingKey] { base.codingPath }
    var allKeys: [Key] { base.allKeys }

    func contains(_ key: Key) -> Bool { base.contains(key) }
    func decodeNil(forKey key: Key) throws -> Bool { try base.decodeNil(forKey: key) }

    private func value<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T {
        try locating(codingPath + [key], type) { try base.decode(type, forKey: key) }
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try value(type, key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try value(type, key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try value(type, key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try value(type, key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try value(type, key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try value(type, key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try value(type, key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try value(type, key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try value(type, key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try value(type, key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try value(type, key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try value(type, key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try value(type, key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try value(type, key) }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        // A missing member or a special type: the error (or value) the wrapped container gives.
        guard base.contains(key), !isDecodedSpecially(type) else { return try value(type, key) }
        return try locating(codingPath + [key], type) {
            try T(from: LocatingDecoder(base: try base.superDecoder(forKey: key)))
        }
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type, forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        KeyedDecodingContainer(LocatingKeyedContainer<NestedKey>(base: try base.nestedContainer(keyedBy: type, forKey: key)))
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer {
        LocatingUnkeyedContainer(base: try base.nestedUnkeyedContainer(forKey: key))
    }

    func superDecoder() throws -> Decoder { LocatingDecoder(base: try base.superDecoder()) }
    func superDecoder(forKey key: Key) throws -> Decoder { LocatingDecoder(base: try base.superDecoder(forKey: key)) }
}

private struct LocatingUnkeyedContainer: UnkeyedDecodingContainer {
    var base: UnkeyedDecodingContainer
    var codingPath: [CodingKey] { base.codingPath }
    var count: Int? { base.count }
    var isAtEnd: Bool { base.isAtEnd }
    var currentIndex: Int { base.currentIndex }

    mutating func decodeNil() throws -> Bool { try base.decodeNil() }

    private mutating func value<T: Decodable>(_ type: T.Type) throws -> T {
        let path = codingPath + [IndexKey(intValue: currentIndex)]
        return try locating(path, type) { try base.decode(type) }
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try value(type) }
    mutating func decode(_ type: String.Type) throws -> String { try value(type) }
    mutating func decode(_ type: Double.Type) throws -> Double { try value(type) }
    mutating func decode(_ type: Float.Type) throws -> Float { try value(type) }
    mutating func decode(_ type: Int.Type) throws -> Int { try value(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try value(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try value(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try value(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try value(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try value(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try value(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try value(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try value(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try value(type) }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        guard !isAtEnd, !isDecodedSpecially(type) else { return try value(type) }
        let path = codingPath + [IndexKey(intValue: currentIndex)]
        let element = try base.superDecoder()
        return try locating(path, type) { try T(from: LocatingDecoder(base: element)) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        KeyedDecodingContainer(LocatingKeyedContainer<NestedKey>(base: try base.nestedContainer(keyedBy: type)))
    }

    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer {
        LocatingUnkeyedContainer(base: try base.nestedUnkeyedContainer())
    }

    mutating func superDecoder() throws -> Decoder { LocatingDecoder(base: try base.superDecoder()) }
}

private struct LocatingSingleValueContainer: SingleValueDecodingContainer {
    let base: SingleValueDecodingContainer
    var codingPath: [CodingKey] { base.codingPath }

    func decodeNil() -> Bool { base.decodeNil() }

    private func value<T: Decodable>(_ type: T.Type) throws -> T {
        try locating(codingPath, type) { try base.decode(type) }
    }

    func decode(_ type: Bool.Type) throws -> Bool { try value(type) }
    func decode(_ type: String.Type) throws -> String { try value(type) }
    func decode(_ type: Double.Type) throws -> Double { try value(type) }
    func decode(_ type: Float.Type) throws -> Float { try value(type) }
    func decode(_ type: Int.Type) throws -> Int { try value(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try value(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try value(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try value(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try value(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try value(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try value(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try value(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try value(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try value(type) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try value(type) }
}
