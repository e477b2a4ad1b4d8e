import Synchronization

/// A value computed at most once and then shared, for immutable value types that carry a derived
/// figure too costly to recompute on every use (a reference, so every copy of the owner shares it).
/// Two threads asking at once may both compute it; both get a value, the first one kept.
final class Memo<Value: Sendable>: Sendable {
    private let stored = Mutex<Value?>(nil)

    init() {}

    /// The kept value, or `compute()`'s, kept from now on.
    func value(_ compute: () throws -> Value) rethrows -> Value {
        if let known = stored.withLock({ $0 }) { return known }
        let made = try compute()
        return stored.withLock { kept in
            if let kept { return kept }
            kept = made
            return made
        }
    }
}
