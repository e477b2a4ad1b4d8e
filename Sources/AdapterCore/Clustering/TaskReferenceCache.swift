import Synchronization

/// What an evaluator prepares once per task version (its own adapter's side of the score) and reuses
/// for every candidate; safe to use concurrently (a value made twice by a race is made, not shared).
final class TaskReferenceCache<Value: Sendable>: Sendable {
    private struct Key: Hashable, Sendable {
        let name: String
        let version: Int
    }

    private let entries = Mutex<[Key: Value]>([:])

    init() {}

    /// Drops the values of every task version not among `tasks`.
    func keep(only tasks: [(name: String, version: Int)]) {
        let live = Set(tasks.map { Key(name: $0.name, version: $0.version) })
        entries.withLock { $0 = $0.filter { live.contains($0.key) } }
    }

    /// The value of `task`, made by `make` on first use.
    func value(for task: TaskProfile, make: () throws -> Value) throws -> Value {
        try value(name: task.name, version: task.version, make: make)
    }

    /// The value of task `name` at `version`, made by `make` on first use.
    func value(name: String, version: Int, make: () throws -> Value) rethrows -> Value {
        let key = Key(name: name, version: version)
        if let known = entries.withLock({ $0[key] }) { return known }
        let made = try make()
        return entries.withLock { entries in
            if let raced = entries[key] { return raced }
            entries[key] = made
            return made
        }
    }
}

extension ClusteringError {
    /// `error` as the `evaluatorFailed` error a planner falls back on, naming what failed (an
    /// `evaluatorFailed` error is passed on as it is).
    static func evaluatorFailure(_ error: any Error, _ what: String) -> ClusteringError {
        if let error = error as? ClusteringError, error.code == .evaluatorFailed { return error }
        let reason = (error as? ClusteringError)?.message ?? "\(error)"
        return ClusteringError(.evaluatorFailed, "\(what): \(reason)")
    }
}
