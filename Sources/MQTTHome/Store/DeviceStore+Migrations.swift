import GRDB

extension DeviceStore {
    /// Ordered, named, append-only: a released migration is never edited, only followed by a new one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: devices, entities, device log") { db in
            try db.execute(
                sql: """
                    CREATE TABLE device (
                        id TEXT PRIMARY KEY NOT NULL,
                        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
                        type TEXT NOT NULL,
                        origin TEXT NOT NULL,
                        attributes TEXT NOT NULL DEFAULT '{}',
                        created_at TEXT NOT NULL,
                        updated_at TEXT NOT NULL,
                        version INTEGER NOT NULL,
                        state TEXT NOT NULL DEFAULT '{}',
                        last_seen TEXT
                    );
                    CREATE TABLE entity (
                        device_id TEXT NOT NULL REFERENCES device(id) ON DELETE CASCADE,
                        key TEXT NOT NULL,
                        position INTEGER NOT NULL,
                        name TEXT NOT NULL,
                        platform TEXT NOT NULL,
                        state_topic TEXT,
                        state_topic_is_filter BOOLEAN NOT NULL DEFAULT 0,
                        command_topic TEXT,
                        availability_topic TEXT,
                        payload_available TEXT,
                        payload_not_available TEXT,
                        unit TEXT,
                        device_class TEXT,
                        PRIMARY KEY (device_id, key)
                    );
                    CREATE TABLE device_log (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        device_id TEXT NOT NULL REFERENCES device(id) ON DELETE CASCADE,
                        at TEXT NOT NULL,
                        direction TEXT NOT NULL CHECK (direction IN ('rx', 'tx')),
                        topic TEXT NOT NULL,
                        payload BLOB NOT NULL
                    );
                    CREATE INDEX device_log_by_device ON device_log (device_id, id);
                    """
            )
        }
        migrator.registerMigration("v2: discovered entities keep their discovery hash, topic, unique_id and config") { db in
            try db.execute(
                sql: """
                    ALTER TABLE entity ADD COLUMN discovery_key TEXT;
                    ALTER TABLE entity ADD COLUMN discovery_topic TEXT;
                    ALTER TABLE entity ADD COLUMN unique_id TEXT;
                    ALTER TABLE entity ADD COLUMN config TEXT;
                    """
            )
        }
        migrator.registerMigration("v3: entities that retain commands; truncated log payloads keep their size") { db in
            try db.execute(
                sql: """
                    ALTER TABLE entity ADD COLUMN retain BOOLEAN NOT NULL DEFAULT 0;
                    ALTER TABLE device_log ADD COLUMN size INTEGER;
                    """
            )
        }
        migrator.registerMigration("v4: device areas") { db in
            try db.execute(
                sql: """
                    ALTER TABLE device ADD COLUMN area TEXT;
                    ALTER TABLE device ADD COLUMN area_set_by_hand BOOLEAN NOT NULL DEFAULT 0;
                    """
            )
        }
        migrator.registerMigration("v5: sensor history and 5-minute/hourly statistics") { db in
            try db.execute(
                sql: """
                    CREATE TABLE history_series (
                        id INTEGER PRIMARY KEY,
                        device_id TEXT NOT NULL REFERENCES device(id) ON DELETE CASCADE,
                        key TEXT NOT NULL,
                        UNIQUE (device_id, key)
                    );
                    CREATE TABLE history (
                        series INTEGER NOT NULL REFERENCES history_series(id) ON DELETE CASCADE,
                        at INTEGER NOT NULL,
                        value REAL NOT NULL,
                        PRIMARY KEY (series, at)
                    ) WITHOUT ROWID;
                    CREATE TABLE statistics (
                        series INTEGER NOT NULL REFERENCES history_series(id) ON DELETE CASCADE,
                        period INTEGER NOT NULL,
                        start INTEGER NOT NULL,
                        sum REAL NOT NULL,
                        count INTEGER NOT NULL,
                        min REAL NOT NULL,
                        max REAL NOT NULL,
                        last REAL NOT NULL,
                        last_at INTEGER NOT NULL,
                        PRIMARY KEY (series, period, start)
                    ) WITHOUT ROWID;
                    """
            )
        }
        return migrator
    }
}
