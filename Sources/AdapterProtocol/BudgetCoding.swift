/// How a message member of type `Budget` is coded, the way an `Int64?` member is: the byte count, or
/// nothing when unlimited; absent or null decodes as unlimited (docs/PROTOCOL.md, "Messages").
///
/// These overloads are more specific than the generic `encode(_:forKey:)`/`decode(_:forKey:)`, so the
/// synthesized `Codable` of every message in this module uses them for its `Budget` members (a
/// `Budget` on its own codes as a number or null). `budget.set`'s `bytes`, which must be present and
/// is null when unlimited, and `recluster`'s optional budget are coded by hand in their params.
extension KeyedEncodingContainer {
    mutating func encode(_ budget: Budget, forKey key: Key) throws {
        if case .bytes(let bytes) = budget { try encode(bytes, forKey: key) }
    }
}

extension KeyedDecodingContainer {
    func decode(_ type: Budget.Type, forKey key: Key) throws -> Budget {
        try decodeIfPresent(Int64.self, forKey: key).map(Budget.bytes) ?? .unlimited
    }
}
