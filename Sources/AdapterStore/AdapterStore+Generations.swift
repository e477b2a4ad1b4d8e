import AdapterCore
import Foundation
import GRDB

/// Generations: building a served set, switching to it atomically, and routing from the current one.
///
/// The daemon's sequence for a new plan:
/// ```
/// let g = try store.beginGeneration(budget: budget, evaluator: "weight-preservation", planSummary: plan)
/// let s = try store.addServedAdapter(ServedAdapterDraft(kind: .merged, memberTasks: ["a", "b"], …), to: g.id)
/// …
/// try store.commitGeneration(g.id, routes: [RouteDraft(task: "a", servedAdapterID: s.id, taskAdapterID: …, retainedQuality: 0.93), …])
/// ```
/// Until the commit, routing answers from the previous generation and the new one is invisible to
/// `currentGeneration()`; if the process dies first, the next `open` deletes it.
extension AdapterStore {
    /// Starts a new generation in state `building` (and its directory).
    /// - Parameters:
    ///   - budget: The budget the plan was made for; the commit refuses to exceed it.
    ///   - evaluator: Name of the evaluator that scored the plan.
    ///   - planSummary: Anything Encodable describing the plan (stored as JSON; see `Generation.planSummary(as:)`).
    public func beginGeneration<Summary: Encodable>(budget: Budget, evaluator: String,
                                                    planSummary: Summary) throws -> Generation {
        if case .bytes(let bytes) = budget, bytes < 0 {
            throw StoreError(.invalidArgument, "a budget cannot be negative (\(bytes) bytes)")
        }
        let summaryJSON = try CatalogCoding.json(planSummary, "the plan summary")
        // The row keeps a byte count and an unlimited flag (0 and true when unlimited).
        let (limit, unlimited): (Int64, Bool) = switch budget {
        case .unlimited: (0, true)
        case .bytes(let bytes): (bytes, false)
        }
        let now = Date()
        let id = try writing("starting a generation") { db in
            try db.execute(
                sql: """
                    INSERT INTO generations (state, created_at, budget_bytes, budget_unlimited, bytes_used, evaluator,
                                             plan_summary_json)
                    VALUES ('building', ?, ?, ?, 0, ?, ?)
                    """,
                arguments: [now.timeIntervalSince1970, limit, unlimited, evaluator,
                            summaryJSON])
            return db.lastInsertedRowID
        }
        do {
            let directory = layout.generationDirectory(id)
            try? FileSystem.removeTree(directory)
            try FileSystem.ensureDirectory(directory)
            try FileSystem.syncDirectory(layout.generations)
        } catch {
            try? abandonGeneration(id)
            throw error
        }
        guard let generation = try generation(id: id) else {
            throw StoreError(.generationNotFound, "generation \(id) vanished right after it was started")
        }
        return generation
    }

    /// Adds one served adapter to a generation that is being built: stores its two files, records it,
    /// and makes its PEFT directory. Durable when it returns.
    /// - Throws: `.generationNotBuilding`, `.generationNotFound`, `.invalidArgument`, `.invalidName`.
    @discardableResult
    public func addServedAdapter(_ draft: ServedAdapterDraft, to generationID: Int64) throws -> ServedAdapter {
        try checkOpen()
        try checkWritable()
        guard draft.rank >= 1 else {
            throw StoreError(.invalidArgument, "a served adapter's rank must be at least 1, got \(draft.rank)")
        }
        guard draft.scale.isFinite else {
            throw StoreError(.invalidArgument, "a served adapter's scale must be finite")
        }
        guard !draft.memberTasks.isEmpty else {
            throw StoreError(.invalidArgument, "a served adapter must serve at least one task")
        }
        for task in draft.memberTasks { try TaskName.validate(task) }
        guard Set(draft.memberTasks).count == draft.memberTasks.count else {
            throw StoreError(.invalidArgument, "a served adapter lists a member task twice: \(draft.memberTasks)")
        }
        if draft.kind == .own && draft.memberTasks.count != 1 {
            throw StoreError(.invalidArgument,
                             "an own adapter serves exactly one task, not \(draft.memberTasks.count)")
        }
        let membersJSON = try CatalogCoding.json(draft.memberTasks, "the member tasks")
        let (bytes, overflow) = draft.configJSON.count.addingReportingOverflow(draft.weights.count)
        guard !overflow else { throw StoreError(.invalidArgument, "a served adapter's size overflows") }
        let configDigest = ContentDigest.of(draft.configJSON)
        let weightsDigest = draft.weightsDigest ?? ContentDigest.of(draft.weights)

        return try pins.withPinned([configDigest, weightsDigest]) {
            try requireBuilding(generationID)
            _ = try objects.put(draft.configJSON, digest: configDigest)
            _ = try objects.put(draft.weights, digest: weightsDigest)
            return try writing("adding a served adapter to generation \(generationID)") { db in
                try Self.requireBuilding(generationID, db)
                try db.execute(
                    sql: """
                        INSERT INTO served_adapters (generation_id, kind, member_tasks_json, config_digest,
                            config_bytes, weights_digest, weights_bytes, bytes, rank, scale)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [generationID, draft.kind.rawValue, membersJSON, configDigest.hex,
                                draft.configJSON.count, weightsDigest.hex, draft.weights.count, bytes,
                                draft.rank, draft.scale])
                return try recordInsertedServedAdapter(generationID, db) { id, directory in
                    ServedAdapter(
                        id: id, generationID: generationID, kind: draft.kind, memberTasks: draft.memberTasks,
                        configDigest: configDigest, configBytes: draft.configJSON.count,
                        weightsDigest: weightsDigest, weightsBytes: draft.weights.count, bytes: bytes,
                        rank: draft.rank, scale: draft.scale, directory: directory)
                }
            }
        }
    }

    /// Adds a task's installed original adapter, unchanged, as an `own` served adapter of a generation
    /// being built. Nothing is copied or re-read: the served adapter refers to the original's objects
    /// (and its PEFT directory links to them), so this costs a few rows and two hard links.
    /// - Throws: `.planOutdated` if `task` is no longer the installed version (re-installed or removed),
    ///   `.objectMissing` if its files are gone, `.generationNotBuilding`, `.generationNotFound`.
    @discardableResult
    public func addServedAdapter(servingOwnAdapterOf task: InstalledTask, scale: Double,
                                 to generationID: Int64) throws -> ServedAdapter {
        guard scale.isFinite else {
            throw StoreError(.invalidArgument, "a served adapter's scale must be finite")
        }
        let adapter = task.adapter
        let own = ServedAdapter(
            id: 0, generationID: generationID, kind: .own, memberTasks: [task.name],
            configDigest: adapter.configDigest, configBytes: adapter.configBytes,
            weightsDigest: adapter.weightsDigest, weightsBytes: adapter.weightsBytes, bytes: adapter.bytes,
            rank: adapter.rank, scale: scale, directory: URL(fileURLWithPath: layout.generationDirectory(generationID)))
        return try addServedAdapter(
            referencing: own, to: generationID, what: "adding task \(task.name)'s own adapter to generation \(generationID)",
            owner: "task '\(task.name)'") { db in
            let current = try Int64.fetchOne(db, sql: "SELECT current_adapter_id FROM tasks WHERE name = ?",
                                             arguments: [task.name])
            guard current == adapter.id else {
                throw StoreError(.planOutdated,
                                 "task '\(task.name)' version \(task.version) is no longer installed "
                                    + (current == nil ? "(removed)" : "(re-installed)"))
            }
        }
    }

    /// Adds a served adapter of another generation, as it is, to a generation being built (a placement
    /// keeps the clusters it did not change). As for an own adapter nothing is copied or re-read (storing
    /// its files again would read them back and hash them): its objects must be present at their
    /// recorded sizes and not known to be damaged.
    /// - Throws: `.digestMismatch` if an object is known to be damaged, `.objectMissing` if one is gone
    ///   or has another size, `.generationNotBuilding`, `.generationNotFound`.
    @discardableResult
    public func addServedAdapter(reusing served: ServedAdapter, to generationID: Int64) throws -> ServedAdapter {
        for digest in [served.configDigest, served.weightsDigest] where damage.contains(digest) {
            throw StoreError(.digestMismatch, "served adapter \(served.id)'s object \(digest) is damaged")
        }
        return try addServedAdapter(
            referencing: served, to: generationID, what: "adding served adapter \(served.id) to generation \(generationID)",
            owner: "served adapter \(served.id)")
    }

    /// Records `template` (all but its id, generation and directory) as a served adapter of a building
    /// generation whose objects are already stored, after `check`, in one transaction.
    private func addServedAdapter(referencing template: ServedAdapter, to generationID: Int64, what: String, owner: String,
                                  check: (Database) throws -> Void = { _ in }) throws -> ServedAdapter {
        let membersJSON = try CatalogCoding.json(template.memberTasks, "the member tasks")
        return try writing(what) { db in
            try Self.requireBuilding(generationID, db)
            try check(db)
            for (digest, bytes) in [(template.configDigest, template.configBytes), (template.weightsDigest, template.weightsBytes)] {
                guard try objects.size(of: digest) == bytes else {
                    throw StoreError(.objectMissing,
                                     "\(owner) lacks its object \(digest) (\(bytes) bytes); run an integrity check")
                }
            }
            try db.execute(
                sql: """
                    INSERT INTO served_adapters (generation_id, kind, member_tasks_json, config_digest,
                        config_bytes, weights_digest, weights_bytes, bytes, rank, scale)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [generationID, template.kind.rawValue, membersJSON, template.configDigest.hex,
                            template.configBytes, template.weightsDigest.hex, template.weightsBytes, template.bytes,
                            template.rank, template.scale])
            return try recordInsertedServedAdapter(generationID, db) { id, directory in
                var served = template
                (served.id, served.generationID, served.directory) = (id, generationID, directory)
                return served
            }
        }
    }

    /// The rest of adding a served adapter, in the transaction whose last statement inserted its row:
    /// `make` builds it from its row id and directory; its bytes are counted against the generation and
    /// its PEFT directory is written (and removed again if that fails).
    private func recordInsertedServedAdapter(
        _ generationID: Int64, _ db: Database, _ make: (_ id: Int64, _ directory: URL) -> ServedAdapter
    ) throws -> ServedAdapter {
        let id = db.lastInsertedRowID
        let served = make(id, servedDirectoryURL(generationID: generationID, servedAdapterID: id))
        try db.execute(sql: "UPDATE generations SET bytes_used = bytes_used + ? WHERE id = ?",
                       arguments: [served.bytes, generationID])
        do {
            try materialise(served)
        } catch {
            try? FileSystem.removeTree(served.directory.path)
            throw error
        }
        return served
    }

    /// Makes a building generation current, in one transaction that also records its routes and
    /// retires the previous current generation. Then collects garbage (retired generation directories
    /// and objects nothing references any more; a failure there does not undo the switch). So a
    /// directory handed out by `route(task:)` lives as long as its generation is current: readers that
    /// need the files later should copy them (or ask again) rather than keep the path.
    ///
    /// Refused (and the generation left building, for the caller to fix or abandon) when it uses more
    /// bytes than its budget (`.overBudget`), when a route names a task that was re-installed or removed
    /// since the plan was made (`.planOutdated`), or when a route's served adapter is not in this
    /// generation or does not list the task as a member (`.invalidArgument`).
    ///
    /// `settings` are stored in the same transaction (e.g. the budget the plan was made for), so they
    /// change exactly when the served set does: both, or neither.
    @discardableResult
    public func commitGeneration(_ generationID: Int64, routes: [RouteDraft],
                                 settings: [String: String] = [:]) throws -> Generation {
        try checkOpen()
        for key in settings.keys { try Self.validateSettingKey(key) }
        var seen = Set<String>()
        for route in routes {
            try TaskName.validate(route.task)
            guard seen.insert(route.task).inserted else {
                throw StoreError(.invalidArgument, "task '\(route.task)' is routed twice in generation \(generationID)")
            }
            guard route.retainedQuality.isFinite else {
                throw StoreError(.invalidArgument, "task '\(route.task)' has a non-finite retained quality")
            }
        }
        try requireBuilding(generationID)
        try FileSystem.syncDirectory(layout.generationDirectory(generationID))
        try FileSystem.syncDirectory(layout.generations)
        let now = Date()
        try writing("making generation \(generationID) current") { db in
            let generation = try Self.requireBuilding(generationID, db)
            var members: [Int64: [String]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT id, member_tasks_json FROM served_adapters WHERE generation_id = ?",
                                        arguments: [generationID]) {
                members[row["id"]] = try CatalogCoding.decode([String].self, row["member_tasks_json"], "member tasks")
            }
            for route in routes {
                guard let taskMembers = members[route.servedAdapterID] else {
                    throw StoreError(.invalidArgument,
                                     "task '\(route.task)' is routed to served adapter \(route.servedAdapterID), "
                                        + "which is not part of generation \(generationID)")
                }
                guard taskMembers.contains(route.task) else {
                    throw StoreError(.invalidArgument,
                                     "task '\(route.task)' is routed to served adapter \(route.servedAdapterID), "
                                        + "whose members are \(taskMembers)")
                }
                let current = try Int64.fetchOne(db, sql: "SELECT current_adapter_id FROM tasks WHERE name = ?",
                                                 arguments: [route.task])
                guard let current else {
                    throw StoreError(.planOutdated,
                                     "task '\(route.task)' was removed after generation \(generationID) was planned")
                }
                guard current == route.taskAdapterID else {
                    throw StoreError(.planOutdated,
                                     "task '\(route.task)' was re-installed after generation \(generationID) was "
                                        + "planned (plan used adapter \(route.taskAdapterID), installed is \(current))")
                }
            }
            let used = try Int.fetchOne(
                db, sql: "SELECT COALESCE(SUM(bytes), 0) FROM served_adapters WHERE generation_id = ?",
                arguments: [generationID]) ?? 0
            guard generation.budget.fits(Int64(used)) else {
                throw StoreError(.overBudget,
                                 "generation \(generationID) needs \(used) bytes but its budget is "
                                    + "\(generation.budget); it was not made current")
            }
            for route in routes {
                try db.execute(
                    sql: """
                        INSERT INTO task_routes (generation_id, task, served_adapter_id, task_adapter_id, retained_quality)
                        VALUES (?, ?, ?, ?, ?)
                        """,
                    arguments: [generationID, route.task, route.servedAdapterID, route.taskAdapterID,
                                route.retainedQuality])
            }
            try db.execute(sql: "UPDATE generations SET state = 'retired', retired_at = ? WHERE state = 'current'",
                           arguments: [now.timeIntervalSince1970])
            try db.execute(sql: "UPDATE generations SET state = 'current', committed_at = ?, bytes_used = ? WHERE id = ?",
                           arguments: [now.timeIntervalSince1970, used, generationID])
            for (key, value) in settings.sorted(by: { $0.key < $1.key }) {
                try db.execute(sql: """
                    INSERT INTO settings (key, value) VALUES (?, ?)
                    ON CONFLICT (key) DO UPDATE SET value = excluded.value
                    """, arguments: [key, value])
            }
        }
        _ = try? collectGarbage()
        guard let committed = try generation(id: generationID) else {
            throw StoreError(.generationNotFound, "generation \(generationID) vanished right after its commit")
        }
        return committed
    }

    /// Deletes a generation that is still building (its records and directory; its objects go at the
    /// next garbage collection). Throws `.generationNotBuilding` for a current or retired one.
    public func abandonGeneration(_ generationID: Int64) throws {
        try writing("abandoning generation \(generationID)") { db in
            _ = try Self.requireBuilding(generationID, db)
            try db.execute(sql: "DELETE FROM generations WHERE id = ?", arguments: [generationID])
        }
        try FileSystem.removeTree(layout.generationDirectory(generationID))
    }

    /// The current generation with its served adapters and routes, or nil before the first commit.
    public func currentGeneration() throws -> Generation? {
        try reading("reading the current generation") { db in
            guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM generations WHERE state = 'current'") else {
                return nil
            }
            return try loadGeneration(id, db)
        }
    }

    /// A generation by id (any state), or nil.
    public func generation(id: Int64) throws -> Generation? {
        try reading("reading generation \(id)") { db in try loadGeneration(id, db) }
    }

    /// Every generation still recorded, newest first.
    public func generations() throws -> [Generation] {
        try reading("listing generations") { db in
            try Int64.fetchAll(db, sql: "SELECT id FROM generations ORDER BY id DESC").compactMap {
                try loadGeneration($0, db)
            }
        }
    }

    /// A served adapter by id (of any recorded generation), or nil. Its `directory` exists only while
    /// its generation is building or current; its objects may be gone once the generation retired.
    public func servedAdapter(id: Int64) throws -> ServedAdapter? {
        try reading("reading served adapter \(id)") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM served_adapters WHERE id = ?", arguments: [id]).map(servedAdapter)
        }
    }

    /// Which served adapter serves `task` now: from the current generation, and only if the route was
    /// planned for the task's installed version. Nil if the task is not installed, not served by the
    /// current generation, or was re-installed since it was planned.
    public func route(task: String) throws -> Route? {
        try TaskName.validate(task)
        return try reading("routing task \(task)") { db in
            guard let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT s.*, r.retained_quality AS route_retained_quality, t.version AS route_task_version
                    FROM task_routes r
                    JOIN generations g ON g.id = r.generation_id AND g.state = 'current'
                    JOIN tasks t ON t.name = r.task AND t.current_adapter_id = r.task_adapter_id
                    JOIN served_adapters s ON s.id = r.served_adapter_id
                    WHERE r.task = ?
                    """,
                arguments: [task]) else { return nil }
            let served = try servedAdapter(row)
            return Route(generationID: served.generationID, task: task, taskVersion: row["route_task_version"],
                         servedAdapter: served, retainedQuality: row["route_retained_quality"])
        }
    }

    /// Bytes of the current generation's served adapters (0 before the first generation).
    public func servedBytes() throws -> Int {
        try reading("measuring the served set") { db in
            try Int.fetchOne(db, sql: "SELECT bytes_used FROM generations WHERE state = 'current'") ?? 0
        }
    }

    // MARK: Internals

    /// A generations row's budget: `budget_unlimited`, else `budget_bytes`.
    static func generationBudget(_ row: Row) -> Budget {
        (row["budget_unlimited"] as Bool) ? .unlimited : .bytes(row["budget_bytes"])
    }

    struct BuildingGeneration {
        let id: Int64
        let budget: Budget
    }

    private func requireBuilding(_ generationID: Int64) throws {
        _ = try reading("checking generation \(generationID)") { db in try Self.requireBuilding(generationID, db) }
    }

    @discardableResult
    static func requireBuilding(_ generationID: Int64, _ db: Database) throws -> BuildingGeneration {
        guard let row = try Row.fetchOne(db, sql: "SELECT state, budget_bytes, budget_unlimited FROM generations WHERE id = ?",
                                         arguments: [generationID]) else {
            throw StoreError(.generationNotFound, "there is no generation \(generationID) (never begun, or abandoned)")
        }
        let state: String = row["state"]
        guard state == GenerationState.building.rawValue else {
            throw StoreError(.generationNotBuilding, "generation \(generationID) is \(state), not building")
        }
        return BuildingGeneration(id: generationID, budget: Self.generationBudget(row))
    }

    func servedDirectoryURL(generationID: Int64, servedAdapterID: Int64) -> URL {
        URL(fileURLWithPath: layout.servedDirectory(generationID: generationID, servedAdapterID: servedAdapterID),
            isDirectory: true)
    }

    func servedAdapter(_ row: Row) throws -> ServedAdapter {
        let kind: ServedAdapterKind = try CatalogCoding.named(row, "kind", "served adapter kind")
        let id: Int64 = row["id"]
        let generationID: Int64 = row["generation_id"]
        return ServedAdapter(
            id: id, generationID: generationID, kind: kind,
            memberTasks: try CatalogCoding.decode([String].self, row["member_tasks_json"], "member tasks"),
            configDigest: try CatalogCoding.digest(row, "config_digest"), configBytes: row["config_bytes"],
            weightsDigest: try CatalogCoding.digest(row, "weights_digest"), weightsBytes: row["weights_bytes"],
            bytes: row["bytes"], rank: row["rank"], scale: row["scale"],
            directory: servedDirectoryURL(generationID: generationID, servedAdapterID: id))
    }

    func loadGeneration(_ id: Int64, _ db: Database) throws -> Generation? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM generations WHERE id = ?", arguments: [id]) else {
            return nil
        }
        let state: GenerationState = try CatalogCoding.named(row, "state", "state of generation \(id)")
        let served = try Row.fetchAll(db, sql: "SELECT * FROM served_adapters WHERE generation_id = ? ORDER BY id",
                                      arguments: [id]).map(servedAdapter)
        let routes = try Row.fetchAll(
            db,
            sql: """
                SELECT r.task, r.served_adapter_id, r.task_adapter_id, r.retained_quality,
                       (t.name IS NOT NULL) AS live
                FROM task_routes r
                LEFT JOIN tasks t ON t.name = r.task AND t.current_adapter_id = r.task_adapter_id
                WHERE r.generation_id = ? ORDER BY r.task
                """,
            arguments: [id]
        ).map { route in
            GenerationRoute(generationID: id, task: route["task"], servedAdapterID: route["served_adapter_id"],
                            taskAdapterID: route["task_adapter_id"], retainedQuality: route["retained_quality"],
                            servesInstalledVersion: route["live"])
        }
        return Generation(
            id: id, state: state, createdAt: CatalogCoding.date(row, "created_at"),
            committedAt: CatalogCoding.optionalDate(row, "committed_at"),
            retiredAt: CatalogCoding.optionalDate(row, "retired_at"),
            budget: Self.generationBudget(row), bytesUsed: row["bytes_used"], evaluator: row["evaluator"],
            planSummaryJSON: row["plan_summary_json"], servedAdapters: served, routes: routes)
    }

    /// Makes (or repairs) a served adapter's PEFT directory: hard links to its two objects (copies if
    /// the file system refuses links), then fsyncs the directory and its parent.
    func materialise(_ served: ServedAdapter) throws {
        let generationDirectory = layout.generationDirectory(served.generationID)
        let directory = served.directory.path
        try FileSystem.ensureDirectory(generationDirectory)
        try FileSystem.ensureDirectory(directory)
        for (name, digest) in [("adapter_config.json", served.configDigest),
                               ("adapter_model.safetensors", served.weightsDigest)] {
            let destination = directory + "/" + name
            let source = objects.path(for: digest)
            if let existing = try FileSystem.status(destination) {
                if let object = try FileSystem.status(source), existing.isRegularFile,
                   existing.inode == object.inode, existing.device == object.device {
                    continue
                }
                try FileSystem.removeTree(destination)
            }
            if FileSystem.hardLink(source, to: destination) != 0 {
                let data = try objects.read(digest)
                let temporary = layout.tmp + "/" + UUID().uuidString.lowercased() + ".copy"
                let fd = try FileSystem.createExclusively(temporary, permissions: 0o400)
                do {
                    defer { FileSystem.closeFile(fd) }
                    try FileSystem.writeAll(fd, data, path: temporary)
                    try FileSystem.sync(fd, path: temporary)
                } catch {
                    try? FileSystem.removeFile(temporary)
                    throw error
                }
                try FileSystem.renameItem(temporary, to: destination)
            }
        }
        try FileSystem.syncDirectory(directory)
        try FileSystem.syncDirectory(generationDirectory)
    }
}
