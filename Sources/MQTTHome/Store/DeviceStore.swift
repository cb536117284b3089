import Foundation
import GRDB
import Synchronization

/// The durable copy of the registry, in SQLite through GRDB. The only code in mqtt-home that touches SQL.
///
/// WAL journal (GRDB's pool), foreign keys on, ordered named migrations (``DeviceStore+Migrations``). Written by
/// one writer (``StoreWriter``) in batched transactions; read at start-up and by log queries.
public final class DeviceStore: Sendable {
    let writer: any DatabaseWriter
    /// (device, key) → history series id; touched only inside write transactions (one at a time).
    /// Every series id, read in one query at the first sample after start (nil until then).
    let seriesCache = Mutex<[SeriesKey: Int64]?>(nil)

    /// Opens (creating if needed) `<directory>/mqtt-home.sqlite` and migrates it.
    public convenience init(directory: String) throws(HomeError) {
        try FileSystem.makeDirectory(directory)
        let path = FileSystem.absolute(directory) + "/mqtt-home.sqlite"
        do {
            var configuration = Configuration()
            configuration.foreignKeysEnabled = true
            configuration.prepareDatabase { db in
                // Writes are batched by StoreWriter; NORMAL is durable across process crashes in WAL mode.
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
                // A running home rewrites the same pages all the time (each device's state row, its log and history
                // pages): a checkpoint every 10,000 pages (~40 MB of WAL) instead of SQLite's 1,000 copies each page
                // back once for many versions. Measured with a full log (`mqtt-home-bench store 2000 100000`):
                // 14.2 → 9.7 KiB written per message, less CPU. The limit trims a WAL that one large transaction (an
                // import) grew back to that size.
                try db.execute(sql: "PRAGMA wal_autocheckpoint = 10000")
                try db.execute(sql: "PRAGMA journal_size_limit = 41943040")
            }
            try self.init(writer: DatabasePool(path: path, configuration: configuration))
        } catch let error as HomeError {
            throw error
        } catch {
            throw .fileSystem(path: path, problem: "cannot open the database: \(error)")
        }
    }

    /// An in-memory store, for tests.
    public static func inMemory() throws -> DeviceStore {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        return try DeviceStore(writer: DatabaseQueue(configuration: configuration))
    }

    init(writer: any DatabaseWriter) throws {
        self.writer = writer
        try Self.migrator.migrate(writer)
    }

    // MARK: - Devices

    /// Every device with its state, for start-up. A stored JSON column that no longer parses (a disk error, a
    /// hand edit) loads as empty with a line in the device's `warnings` saying which, instead of silently.
    public func loadAll() async throws -> [(Device, DeviceState)] {
        let all = Mutex<[(Device, DeviceState)]>([])
        try await loadAll(chunkSize: .max) { chunk, _ in all.withLock { $0 += chunk } }
        return all.withLock { $0 }
    }

    /// Every device with its state, handed to `body` in id order, `chunkSize` at a time, with the number of devices in
    /// all: the caller subscribes and publishes what it has while the rest is read. `body` runs inside the read.
    public func loadAll(
        chunkSize: Int,
        _ body: @escaping @Sendable (_ chunk: [(Device, DeviceState)], _ total: Int) throws -> Void
    ) async throws {
        try await writer.read { db in
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM device") ?? 0
            var entitiesByDevice: [String: [Entity]] = [:]
            var problems: [String: [String]] = [:]
            // Columns by position, not by name: a by-name lookup lower-cases the name on every access, and at 10,000
            // devices that was a sixth of the start-up. Through cursors, not fetchAll: a fetched row is a copy of
            // every column as a DatabaseValue, decoded again from there; a cursor's row reads SQLite's columns
            // directly (each row is used before the next step, never kept).
            let entities = try Row.fetchCursor(db, sql: "SELECT \(Self.entityColumns) FROM entity ORDER BY device_id, position")
            while let row = try entities.next() {
                let deviceID: String = row[0]
                let entity = Self.entity(from: row) { problems[deviceID, default: []].append($0) }
                entitiesByDevice[deviceID, default: []].append(entity)
            }
            let columns = "id, name, type, origin, attributes, created_at, updated_at, version, area, area_set_by_hand, state"
            var chunk: [(Device, DeviceState)] = []
            chunk.reserveCapacity(min(chunkSize, total))
            let devices = try Row.fetchCursor(db, sql: "SELECT \(columns) FROM device ORDER BY id")
            while let row = try devices.next() {
                let id: String = row[0]
                var device = Device(
                    id: id,
                    name: row[1],
                    type: row[2],
                    origin: row[3],
                    attributes: Self.object(row[4], column: "attributes") { problems[id, default: []].append($0) },
                    createdAt: row[5],
                    updatedAt: row[6],
                    version: row[7],
                    entities: entitiesByDevice.removeValue(forKey: id) ?? []
                )
                device.area = row[8]
                device.areaSetByHand = row[9] ?? false
                let stateText: String = row[10]
                let state: DeviceState
                do {
                    state = DeviceState(json: try JSONParser.parse(stateText))
                } catch {
                    state = DeviceState()
                    problems[id, default: []].append("the stored state is not valid JSON (\(error)); it starts empty")
                }
                device.warnings = problems.removeValue(forKey: id) ?? []
                chunk.append((device, state))
                if chunk.count >= chunkSize {
                    try body(chunk, total)
                    chunk.removeAll(keepingCapacity: true)
                }
            }
            if !chunk.isEmpty || total == 0 { try body(chunk, total) }
        }
    }

    /// Inserts or replaces a device and its entities (its state and log are kept on replace).
    func save(_ device: Device, in db: Database) throws {
        // Cached statements: an import saves 10,000 devices in one transaction, and parsing (and authorizing) the same
        // SQL for each of them was a third of the writer's time.
        try db.cachedStatement(
            sql: """
                INSERT INTO device (id, name, type, origin, attributes, created_at, updated_at, version, area, area_set_by_hand)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET name = excluded.name, type = excluded.type, origin = excluded.origin,
                    attributes = excluded.attributes, updated_at = excluded.updated_at, version = excluded.version,
                    area = excluded.area, area_set_by_hand = excluded.area_set_by_hand
                """
        ).execute(arguments: [
            device.id, device.name, device.type, device.origin, JSONValue.object(device.attributes).jsonString,
            device.createdAt, device.updatedAt, device.version, device.area, device.areaSetByHand,
        ])
        try db.cachedStatement(sql: "DELETE FROM entity WHERE device_id = ?").execute(arguments: [device.id])
        let insert = try db.cachedStatement(
            sql: """
                INSERT INTO entity (device_id, key, position, name, platform, state_topic, state_topic_is_filter,
                    command_topic, availability_topic, payload_available, payload_not_available, unit, device_class,
                    discovery_key, discovery_topic, unique_id, config, retain)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        )
        for (position, entity) in device.entities.enumerated() {
            try insert.execute(arguments: [
                device.id, entity.key, position, entity.name, entity.platform, entity.stateTopic,
                entity.stateTopicIsFilter, entity.commandTopic, entity.availability?.topic,
                entity.availability?.payloadAvailable, entity.availability?.payloadNotAvailable, entity.unit,
                entity.deviceClass, entity.discovery?.key, entity.discovery?.topic, entity.discovery?.uniqueID,
                entity.discovery.map { JSONValue.object($0.config).jsonString }, entity.retain,
            ])
        }
    }

    /// Saves many devices in one transaction (an import, or a benchmark's fixture).
    public func saveAll(_ devices: [Device]) async throws {
        try await writer.write { db in
            for device in devices { try self.save(device, in: db) }
        }
    }

    func delete(deviceID: String, in db: Database) throws {
        try db.execute(sql: "DELETE FROM device WHERE id = ?", arguments: [deviceID])
        forgetSeries(deviceID: deviceID)
    }

    func saveState(deviceID: String, state: StateSnapshot, in db: Database) throws {
        let update = try BoundStatement(db, sql: "UPDATE device SET state = ?, last_seen = ? WHERE id = ?")
        try update.bind(1, utf8: state.jsonBytes)
        try update.bind(2, state.state.lastSeen)
        try update.bind(3, deviceID)
        try update.run()
    }

    // MARK: - Log

    /// One received or sent message of a device. Its payload keeps at most ``payloadLimit`` bytes (a prefix),
    /// so that no device can make the log, the dashboard or `devices/logs` large; `size` is the whole payload's.
    public struct LogEntry: Sendable, Hashable {
        public static let payloadLimit = 4096

        public var id: Int64?
        public var deviceID: String
        public var at: String
        /// `rx` (received from the device) or `tx` (sent to it).
        public var direction: String
        public var topic: String
        public var payload: [UInt8]
        /// Bytes of the payload as it travelled; more than `payload.count` when truncated.
        public var size: Int

        /// `size` nil: `payload` is the whole message, kept up to ``payloadLimit`` bytes.
        public init(id: Int64? = nil, deviceID: String, at: String, direction: String, topic: String, payload: [UInt8], size: Int? = nil) {
            self.id = id
            self.deviceID = deviceID
            self.at = at
            self.direction = direction
            self.topic = topic
            self.size = size ?? payload.count
            self.payload = payload.count > Self.payloadLimit ? Array(payload.prefix(Self.payloadLimit)) : payload
        }

        public var truncated: Bool { size > payload.count }

        public var json: JSONValue {
            var object: JSONObject = [
                "id": id.map { .int($0) } ?? .null, "device_id": .string(deviceID), "at": .string(at),
                "direction": .string(direction), "topic": .string(topic),
                "payload": .string(String(decoding: payload, as: UTF8.self)),
            ]
            if truncated {
                object["truncated"] = true
                object["size"] = .int(Int64(size))
            }
            return .object(object)
        }
    }

    func append(_ entry: LogEntry, in db: Database) throws {
        // A row for a device removed meanwhile is skipped, not a foreign-key failure of the whole batch.
        let insert = try BoundStatement(
            db,
            sql: """
                INSERT INTO device_log (device_id, at, direction, topic, payload, size)
                SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM device WHERE id = ?1)
                """
        )
        try insert.bind(1, entry.deviceID)
        try insert.bind(2, entry.at)
        try insert.bind(3, entry.direction)
        try insert.bind(4, entry.topic)
        try insert.bind(5, blob: entry.payload)
        try insert.bind(6, entry.truncated ? Int64(entry.size) : nil)
        try insert.run()
    }

    /// Deletes all but the newest `keep` log rows of a device (one indexed range delete, no COUNT).
    func pruneLog(deviceID: String, keep: Int, in db: Database) throws {
        try db.cachedStatement(
            sql: """
                DELETE FROM device_log WHERE device_id = ?1 AND id <= (
                    SELECT id FROM device_log WHERE device_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)
                """
        ).execute(arguments: [deviceID, keep])
    }

    /// Newest first; `before` pages back by log id.
    public func log(deviceID: String, limit: Int, direction: String?, before: Int64?) async throws -> [LogEntry] {
        try await writer.read { db in
            var sql = "SELECT * FROM device_log WHERE device_id = ?"
            var arguments: StatementArguments = [deviceID]
            if let direction {
                sql += " AND direction = ?"
                arguments += [direction]
            }
            if let before {
                sql += " AND id < ?"
                arguments += [before]
            }
            sql += " ORDER BY id DESC LIMIT ?"
            arguments += [limit]
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.logEntry)
        }
    }

    /// The newest log rows across all devices, for the dashboard.
    public func recentActivity(limit: Int) async throws -> [LogEntry] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM device_log ORDER BY id DESC LIMIT ?", arguments: [limit])
                .map(Self.logEntry)
        }
    }

    /// Runs `body` in one write transaction on GRDB's writer queue (never on the cooperative pool).
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await writer.write(body)
    }

    /// `PRAGMA integrity_check`: "ok" when the file is sound.
    public func integrityCheck() async throws -> String {
        try await writer.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "no answer" }
    }

    // MARK: - Row decoding

    /// The entity columns ``entity(from:problem:)`` reads, in its order (`device_id` first).
    static let entityColumns = """
        device_id, key, name, platform, state_topic, state_topic_is_filter, command_topic, availability_topic, \
        payload_available, payload_not_available, unit, device_class, discovery_key, discovery_topic, unique_id, config, retain
        """

    private static func entity(from row: Row, problem: (String) -> Void) -> Entity {
        let key: String = row[1]
        let platform: String = row[3]
        let availabilityTopic: String? = row[7]
        let discoveryKey: String? = row[12]
        let discoveryTopic: String? = row[13]
        var entity = Entity(
            key: key,
            name: row[2],
            platform: platform,
            stateTopic: row[4],
            stateTopicIsFilter: row[5],
            commandTopic: row[6],
            availability: availabilityTopic.map {
                Entity.Availability(topic: $0, payloadAvailable: row[8] ?? "online", payloadNotAvailable: row[9] ?? "offline")
            },
            unit: row[10],
            deviceClass: row[11],
            discovery: discoveryKey.map { discoveryKey in
                Entity.Discovery(
                    key: discoveryKey,
                    topic: discoveryTopic ?? "",
                    uniqueID: row[14],
                    platform: platform,
                    config: Self.object(row[15], column: "discovery config of entity '\(key)'", problem: problem)
                )
            }
        )
        entity.retain = row[16] ?? false
        return entity
    }

    private static func logEntry(_ row: Row) -> LogEntry {
        let payload: Data = row["payload"] ?? Data()
        return LogEntry(
            id: row["id"],
            deviceID: row["device_id"],
            at: row["at"],
            direction: row["direction"],
            topic: row["topic"],
            payload: Array(payload),
            size: row["size"] ?? payload.count
        )
    }

    private static func object(_ text: String?, column: String, problem: (String) -> Void) -> JSONObject {
        guard let text else { return JSONObject() }
        do {
            guard let object = try JSONParser.parse(text).objectValue else {
                problem("the stored \(column) is not a JSON object; it is loaded empty")
                return JSONObject()
            }
            return object
        } catch {
            problem("the stored \(column) is not valid JSON (\(error)); it is loaded empty")
            return JSONObject()
        }
    }
}
