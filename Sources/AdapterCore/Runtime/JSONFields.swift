/// The members of one JSON object from a model's files, with typed lookups whose errors name the
/// file and the key. JSON `null` counts as absent (Hugging Face configs write `"head_dim": null`).
struct JSONFields: Sendable {
    /// Where the object comes from, for error messages (e.g. "config.json", "tokenizer.json: model").
    let source: String
    /// The error code a wrongly typed member is reported with.
    let invalid: ModelRuntimeError.Code
    let members: [StrictJSON.Member]
    private let indexByKey: [String: Int]

    /// Nil when `value` is not an object.
    init?(_ value: StrictJSON.Value, source: String, invalid: ModelRuntimeError.Code) {
        guard let members = value.members else { return nil }
        self.source = source
        self.invalid = invalid
        self.members = members
        var index: [String: Int] = [:]
        for (i, member) in members.enumerated() { index[member.key] = i }
        indexByKey = index
    }

    /// The member's value, nil when absent or null.
    subscript(key: String) -> StrictJSON.Value? {
        guard let i = indexByKey[key], !members[i].value.isNull else { return nil }
        return members[i].value
    }

    func has(_ key: String) -> Bool { self[key] != nil }

    func error(_ key: String, _ expected: String) -> ModelRuntimeError {
        let found = self[key].map { value -> String in
            if case .number(let text) = value { return text }
            if case .string(let text) = value { return "\"\(text)\"" }
            return value.kindName
        } ?? "missing"
        return ModelRuntimeError(invalid, "\(source): '\(key)' is \(found); \(expected) was expected")
    }

    /// An integer member; `fallback` when absent (an error when absent without one).
    func integer(_ key: String, default fallback: Int? = nil) throws(ModelRuntimeError) -> Int {
        guard let value = self[key] else {
            if let fallback { return fallback }
            throw error(key, "an integer")
        }
        guard let n = value.integer else { throw error(key, "an integer") }
        return n
    }

    func optionalInteger(_ key: String) throws(ModelRuntimeError) -> Int? {
        guard has(key) else { return nil }
        return try integer(key)
    }

    /// A finite number member (integer or not); `fallback` when absent.
    func number(_ key: String, default fallback: Double? = nil) throws(ModelRuntimeError) -> Double {
        guard let value = self[key] else {
            if let fallback { return fallback }
            throw error(key, "a number")
        }
        guard let d = value.double else { throw error(key, "a finite number") }
        return d
    }

    func optionalNumber(_ key: String) throws(ModelRuntimeError) -> Double? {
        guard has(key) else { return nil }
        return try number(key)
    }

    func string(_ key: String) throws(ModelRuntimeError) -> String? {
        guard let value = self[key] else { return nil }
        guard let s = value.string else { throw error(key, "a string") }
        return s
    }

    func bool(_ key: String, default fallback: Bool) throws(ModelRuntimeError) -> Bool {
        guard let value = self[key] else { return fallback }
        guard case .bool(let b) = value else { throw error(key, "true or false") }
        return b
    }

    func object(_ key: String) throws(ModelRuntimeError) -> JSONFields? {
        guard let value = self[key] else { return nil }
        guard let fields = JSONFields(value, source: "\(source): \(key)", invalid: invalid) else {
            throw error(key, "an object")
        }
        return fields
    }

    func array(_ key: String) throws(ModelRuntimeError) -> [StrictJSON.Value]? {
        guard let value = self[key] else { return nil }
        guard let elements = value.elements else { throw error(key, "an array") }
        return elements
    }
}
