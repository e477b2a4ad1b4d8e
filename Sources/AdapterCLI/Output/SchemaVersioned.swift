/// A JSON document of adapterctl: `value`'s own members and `"schema": Output.jsonSchemaVersion`.
/// `value` must encode as an object (every result, summary and error adapterctl prints does).
struct SchemaVersioned<Value: Encodable>: Encodable {
    let value: Value

    private enum CodingKeys: String, CodingKey { case schema }

    func encode(to encoder: any Encoder) throws {
        try value.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Output.jsonSchemaVersion, forKey: .schema)
    }
}

/// A JSON document of adapterctl for a value that is not an object (an array, a string):
/// `{"schema": Output.jsonSchemaVersion, "value": value}`.
struct SchemaVersionedValue<Value: Encodable>: Encodable {
    let schema = Output.jsonSchemaVersion
    let value: Value
}
