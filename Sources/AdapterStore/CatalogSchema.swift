import GRDB

/// The catalog's versioned migrations. Never edit a registered migration; add a new one.
enum CatalogSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: tasks, adapters, quarantine, generations, settings") { db in
            try db.execute(sql: """
                CREATE TABLE adapters (
                    id              INTEGER PRIMARY KEY AUTOINCREMENT,
                    task            TEXT    NOT NULL REFERENCES tasks(name) ON DELETE CASCADE
                                            DEFERRABLE INITIALLY DEFERRED,
                    version         INTEGER NOT NULL CHECK (version >= 1),
                    config_digest   TEXT    NOT NULL CHECK (length(config_digest) = 64),
                    config_bytes    INTEGER NOT NULL CHECK (config_bytes >= 0),
                    weights_digest  TEXT    NOT NULL CHECK (length(weights_digest) = 64),
                    weights_bytes   INTEGER NOT NULL CHECK (weights_bytes >= 0),
                    rank            INTEGER NOT NULL CHECK (rank >= 1),
                    dtype           TEXT    NOT NULL,
                    base_model      TEXT    NOT NULL,
                    profile_hash    TEXT    NOT NULL,
                    signature_json  TEXT    NOT NULL,
                    verdict_json    TEXT    NOT NULL,
                    installed_at    REAL    NOT NULL,
                    installed_by    INTEGER NOT NULL,
                    UNIQUE (task, version)
                ) STRICT;

                CREATE TABLE tasks (
                    name                TEXT    PRIMARY KEY NOT NULL,
                    version             INTEGER NOT NULL CHECK (version >= 1),
                    created_at          REAL    NOT NULL,
                    examples_digest     TEXT    NOT NULL CHECK (length(examples_digest) = 64),
                    examples_bytes      INTEGER NOT NULL CHECK (examples_bytes >= 0),
                    current_adapter_id  INTEGER NOT NULL UNIQUE REFERENCES adapters(id)
                                                DEFERRABLE INITIALLY DEFERRED
                ) STRICT;

                CREATE TABLE quarantine (
                    id              INTEGER PRIMARY KEY AUTOINCREMENT,
                    weights_digest  TEXT    NOT NULL CHECK (length(weights_digest) = 64),
                    task            TEXT    NOT NULL,
                    verdict_json    TEXT    NOT NULL,
                    refused_at      REAL    NOT NULL,
                    peer_uid        INTEGER NOT NULL
                ) STRICT;

                CREATE TABLE generations (
                    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
                    state               TEXT    NOT NULL CHECK (state IN ('building', 'current', 'retired')),
                    created_at          REAL    NOT NULL,
                    committed_at        REAL,
                    retired_at          REAL,
                    budget_bytes        INTEGER NOT NULL CHECK (budget_bytes >= 0),
                    bytes_used          INTEGER NOT NULL DEFAULT 0 CHECK (bytes_used >= 0),
                    evaluator           TEXT    NOT NULL,
                    plan_summary_json   TEXT    NOT NULL
                ) STRICT;
                -- At most one generation is current.
                CREATE UNIQUE INDEX generations_one_current ON generations(state) WHERE state = 'current';

                CREATE TABLE served_adapters (
                    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
                    generation_id       INTEGER NOT NULL REFERENCES generations(id) ON DELETE CASCADE,
                    kind                TEXT    NOT NULL CHECK (kind IN ('own', 'merged')),
                    member_tasks_json   TEXT    NOT NULL,
                    config_digest       TEXT    NOT NULL CHECK (length(config_digest) = 64),
                    config_bytes        INTEGER NOT NULL CHECK (config_bytes >= 0),
                    weights_digest      TEXT    NOT NULL CHECK (length(weights_digest) = 64),
                    weights_bytes       INTEGER NOT NULL CHECK (weights_bytes >= 0),
                    bytes               INTEGER NOT NULL CHECK (bytes >= 0),
                    rank                INTEGER NOT NULL CHECK (rank >= 1),
                    scale               REAL    NOT NULL
                ) STRICT;
                CREATE INDEX served_adapters_generation ON served_adapters(generation_id);

                -- task is deliberately not a foreign key: a generation outlives re-installs and removals;
                -- task_adapter_id records which installed version the route was planned for.
                CREATE TABLE task_routes (
                    generation_id       INTEGER NOT NULL REFERENCES generations(id) ON DELETE CASCADE,
                    task                TEXT    NOT NULL,
                    served_adapter_id   INTEGER NOT NULL REFERENCES served_adapters(id) ON DELETE CASCADE,
                    task_adapter_id     INTEGER NOT NULL,
                    retained_quality    REAL    NOT NULL,
                    PRIMARY KEY (generation_id, task)
                ) STRICT;
                CREATE INDEX task_routes_task ON task_routes(task);

                CREATE TABLE settings (
                    key     TEXT PRIMARY KEY NOT NULL,
                    value   TEXT NOT NULL
                ) STRICT;
                """)
        }
        // An unlimited budget was stored as Int64.max (a sentinel); it is now explicit: the flag
        // in generations (budget_bytes 0 beside it) and the text `unlimited` in the settings.
        migrator.registerMigration("v2: explicit unlimited budget") { db in
            try db.execute(sql: """
                ALTER TABLE generations ADD COLUMN budget_unlimited INTEGER NOT NULL DEFAULT 0
                    CHECK (budget_unlimited IN (0, 1));
                UPDATE generations SET budget_unlimited = 1, budget_bytes = 0
                    WHERE budget_bytes = 9223372036854775807;
                UPDATE settings SET value = 'unlimited'
                    WHERE key = 'budget_bytes' AND value = '9223372036854775807';
                """)
        }
        // Derived data, recomputable from a task's examples and the base model: what the examples
        // feed the model's linear maps, for the data-aware evaluator. One row per task and base
        // model, for the task version it was made from.
        migrator.registerMigration("v3: input sketches") { db in
            try db.execute(sql: """
                CREATE TABLE input_sketches (
                    task        TEXT    NOT NULL,
                    model       TEXT    NOT NULL,
                    version     INTEGER NOT NULL CHECK (version >= 1),
                    sketch      BLOB    NOT NULL,
                    created_at  REAL    NOT NULL,
                    PRIMARY KEY (task, model)
                ) STRICT;
                """)
        }
        return migrator
    }

    /// Identifiers of every migration this build knows.
    static var knownMigrations: [String] { migrator.migrations }
}
