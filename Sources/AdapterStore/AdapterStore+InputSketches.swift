import Foundation
import GRDB

extension AdapterStore {
    /// Keeps the input sketch (encoded by the caller) of version `version` of a task for the base
    /// model identified by `model`, replacing the one made before for that task and model. Input
    /// sketches are derived data — remade from the task's examples when missing — so nothing else
    /// depends on them; removing the task removes them.
    /// - Returns: false, storing nothing, when the task is gone or is no longer at `version`.
    /// - Throws: `.invalidName`, `.invalidArgument` (an empty model identity), `.readOnly`, `.database`.
    @discardableResult
    public func saveInputSketch(_ sketch: Data, task name: String, version: Int, model: String) throws -> Bool {
        try checkOpen()
        try checkWritable()
        try TaskName.validate(name)
        guard !model.isEmpty else { throw StoreError(.invalidArgument, "an input sketch needs a model identity") }
        return try writing("saving the input sketch of \(name)") { db in
            let current = try Int.fetchOne(db, sql: "SELECT version FROM tasks WHERE name = ?", arguments: [name])
            guard current == version else { return false }
            try db.execute(sql: """
                INSERT INTO input_sketches (task, model, version, sketch, created_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (task, model) DO UPDATE SET version = excluded.version, sketch = excluded.sketch,
                    created_at = excluded.created_at
                """, arguments: [name, model, version, sketch, Date().timeIntervalSince1970])
            return true
        }
    }

    /// The stored input sketches for the base model `model` that match their task's current version,
    /// by task name (a sketch of an older version is left out: it describes other examples).
    public func inputSketches(model: String) throws -> [String: Data] {
        try reading("reading input sketches") { db in
            var result: [String: Data] = [:]
            let rows = try Row.fetchAll(db, sql: """
                SELECT s.task, s.sketch FROM input_sketches s JOIN tasks t ON t.name = s.task AND t.version = s.version
                WHERE s.model = ?
                """, arguments: [model])
            for row in rows { result[row["task"]] = row["sketch"] as Data }
            return result
        }
    }
}
