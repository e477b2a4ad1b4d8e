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

    /// A member read by `read`: nil when absent, an error saying `expected` when `read` cannot take it.
    private func member<T>(_ key: String, _ expected: String,
                           _ read: (StrictJSON.Value) -> T?) throws(ModelRuntimeError) -> T? {
        guard let value = self[key] else { return nil }
        guard let result = read(value) else { throw error(key, expected) }
        return result
    }

    /// An integer member; `fallback` when absent (an error when absent without one).
    func integer(_ key: String, default fallback: Int? = nil) throws(ModelRuntimeError) -> Int {
        guard let n = try optionalInteger(key) ?? fallback else { throw error(key, "an integer") }
        return n
    }

    func optionalInteger(_ key: String) throws(ModelRuntimeError) -> Int? {
        try member(key, "an integer") { $0.integer }
    }

    /// A finite number member (integer or not); `fallback` when absent.
    func number(_ key: String, default fallback: Double? = nil) throws(ModelRuntimeError) -> Double {
        guard let d = try optionalNumber(key) ?? fallback else { throw error(key, "a number") }
        return d
    }

    func optionalNumber(_ key: String) throws(ModelRuntimeError) -> Double? {
        try member(key, "a finite number") { $0.double }
    }

    func string(_ key: String) throws(ModelRuntimeError) -> String? {
        try member(key, "a string") { $0.string }
    }

    func bool(_ key: String, default fallback: Bool) throws(ModelRuntimeError) -> Bool {
        try member(key, "true or false") { value -> Bool? in
            if case .bool(let b) = value { return b }
            return nil
        } ?? fallback
    }

    func object(_ key: String) throws(ModelRuntimeError) -> JSONFields? {
        try member(key, "an object") { JSONFields($0, source: "\(source): \(key)", invalid: invalid) }
    }

    func array(_ key: String) throws(ModelRuntimeError) -> [StrictJSON.Value]? {
        try member(key, "an array") { $0.elements }
    }
}
