import Foundation

/// The top-level object of an adapter_config.json, read field by field with PEFT's types: an absent
/// field and a JSON `null` both read as absent, and a field of the wrong type is an `.invalidConfig`
/// error that names the key, what it is and what was expected.
struct PEFTConfigFields {
    private let json: StrictJSON.Value

    /// Parses the bytes; throws unless they are one JSON object.
    init(_ data: Data) throws(PEFTError) {
        do {
            json = try StrictJSON.parse(data)
        } catch {
            throw PEFTError(.invalidConfig, "adapter_config.json is not valid JSON: \(error.description)")
        }
        guard json.members != nil else {
            throw PEFTError(.invalidConfig, "adapter_config.json is \(json.kindName), not a JSON object")
        }
    }

    /// The field's value; nil when absent or null.
    func field(_ key: String) -> StrictJSON.Value? {
        guard let v = json[key], !v.isNull else { return nil }
        return v
    }

    func bad(_ key: String, _ expected: String, _ v: StrictJSON.Value) -> PEFTError {
        PEFTError(.invalidConfig, "adapter_config.json: '\(key)' is \(v.kindName); expected \(expected)")
    }

    func optionalString(_ key: String) throws(PEFTError) -> String? {
        guard let v = field(key) else { return nil }
        guard let s = v.string else { throw bad(key, "a string", v) }
        return s
    }

    /// A boolean flag; false when absent.
    func bool(_ key: String) throws(PEFTError) -> Bool {
        guard let v = field(key) else { return false }
        guard case .bool(let b) = v else { throw bad(key, "true or false", v) }
        return b
    }

    func positiveInt(_ key: String, _ v: StrictJSON.Value) throws(PEFTError) -> Int {
        guard let i = v.integer, i >= 1 else { throw bad(key, "a positive integer", v) }
        return i
    }

    func finiteNumber(_ key: String, _ v: StrictJSON.Value) throws(PEFTError) -> Double {
        guard let d = v.double else { throw bad(key, "a finite number", v) }
        return d
    }

    /// The field read by `read`, or `fallback` when absent.
    func value<T>(_ key: String, default fallback: T,
                  _ read: (String, StrictJSON.Value) throws(PEFTError) -> T) throws(PEFTError) -> T {
        guard let v = field(key) else { return fallback }
        return try read(key, v)
    }

    /// The strings of a list value; any other element is `expected`'s error for the whole field.
    func strings(of list: [StrictJSON.Value], in key: String, whole: StrictJSON.Value,
                 expected: String) throws(PEFTError) -> [String] {
        var strings: [String] = []
        for e in list {
            guard let s = e.string else { throw bad(key, expected, whole) }
            strings.append(s)
        }
        return strings
    }

    /// A `*_pattern` object: each member's value read by `read` (under the key `field.member`), and
    /// the member keys in file order (the first matching key wins).
    func pattern<T>(_ key: String, _ read: (String, StrictJSON.Value) throws(PEFTError) -> T)
        throws(PEFTError) -> (values: [String: T], keys: [String]) {
        guard let p = field(key) else { return ([:], []) }
        guard let members = p.members else { throw bad(key, "an object", p) }
        var values: [String: T] = [:]
        var keys: [String] = []
        for m in members {
            values[m.key] = try read("\(key).\(m.key)", m.value)
            keys.append(m.key)
        }
        return (values, keys)
    }
}
