/// The naming rule for tasks: `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`, checked byte by byte on UTF-8.
///
/// Only ASCII letters, digits, '.', '_' and '-' are allowed, the first must be a letter or digit, and
/// the length is 1 to 64. So no path separators, no leading dot (".", ".."), no whitespace or control
/// characters, and no Unicode look-alikes, combining marks or normalisation tricks. The store never
/// uses a task name as a path anyway (objects are named by digest, generations by number).
public enum TaskName {
    /// The longest allowed name, in characters (= bytes, since only ASCII is allowed).
    public static let maximumLength = 64

    /// True if `name` follows the rule.
    public static func isValid(_ name: String) -> Bool {
        problem(with: name) == nil
    }

    /// Returns `name` unchanged if it follows the rule; throws `StoreError.invalidName` saying why not.
    @discardableResult
    public static func validate(_ name: String) throws -> String {
        if let problem = problem(with: name) {
            throw StoreError(.invalidName, problem)
        }
        return name
    }

    private static func problem(with name: String) -> String? {
        let bytes = Array(name.utf8)
        let shown = String(reflecting: String(name.prefix(80)))
        guard let first = bytes.first else { return "a task name must not be empty" }
        guard bytes.count <= maximumLength else {
            return "task name \(shown)… is \(bytes.count) bytes long; the limit is \(maximumLength)"
        }
        guard isAlphanumeric(first) else {
            return "task name \(shown) must start with an ASCII letter or digit"
        }
        for byte in bytes where !(isAlphanumeric(byte) || byte == 0x2e || byte == 0x5f || byte == 0x2d) {
            if byte >= 0x80 {
                return "task name \(shown) contains non-ASCII characters; allowed are A-Z a-z 0-9 . _ -"
            }
            return "task name \(shown) contains \(String(reflecting: String(UnicodeScalar(byte)))); "
                + "allowed are A-Z a-z 0-9 . _ -"
        }
        return nil
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
    }
}
