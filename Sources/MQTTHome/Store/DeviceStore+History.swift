import Foundation
import GRDB
import Synchronization

/// Sensor history and statistics: every numeric value a device reports, kept apart from the message log.
///
/// `history_series` names a (device, key) pair once; `history` holds its values (`at` in ms since the epoch) and
/// `statistics` its 5-minute and hourly roll-ups (sum, count, min, max, last: a mean is sum / count, and two
/// partial roll-ups of one bucket merge by adding). Both tables are clustered by series and time (WITHOUT ROWID),
/// so every query and every retention delete is a range scan of one series.
extension DeviceStore {
    /// One numeric value of one device's state key at one time.
    public struct Sample: Sendable, Hashable {
        public var deviceID: String
        public var key: String
        public var at: Int64
        public var value: Double

        public init(deviceID: String, key: String, at: Int64, value: Double) {
            self.deviceID = deviceID
            self.key = key
            self.at = at
            self.value = value
        }
    }

    /// A roll-up of one bucket: what `statistics` stores, or a delta to merge into it.
    public struct Rollup: Sendable, Hashable {
        public var sum: Double
        public var count: Int
        public var min: Double
        public var max: Double
        public var last: Double
        public var lastAt: Int64

        public init(_ value: Double, at: Int64) {
            sum = value
            count = 1
            min = value
            max = value
            last = value
            lastAt = at
        }

        public mutating func add(_ value: Double, at: Int64) {
            sum += value
            count += 1
            min = Swift.min(min, value)
            max = Swift.max(max, value)
            if at >= lastAt {
                last = value
                lastAt = at
            }
        }

        public var mean: Double { count == 0 ? 0 : sum / Double(count) }

        /// Both deltas as one, as the statistics table's upsert merges them.
        public func merged(with other: Rollup) -> Rollup {
            var result = self
            result.sum += other.sum
            result.count += other.count
            result.min = Swift.min(min, other.min)
            result.max = Swift.max(max, other.max)
            if other.lastAt >= lastAt {
                result.last = other.last
                result.lastAt = other.lastAt
            }
            return result
        }
    }

    /// A series: one state key of one device.
    public struct SeriesKey: Sendable, Hashable {
        public var deviceID: String
        public var key: String
    }

    /// A bucket of one series: `period` 300,000 ms (5 minutes) or 3,600,000 ms (an hour), `start` its first ms.
    public struct BucketKey: Sendable, Hashable {
        public var series: SeriesKey
        public var period: Int64
        public var start: Int64

        public init(deviceID: String, key: String, period: Int64, start: Int64) {
            self.init(series: SeriesKey(deviceID: deviceID, key: key), period: period, start: start)
        }

        public init(series: SeriesKey, period: Int64, start: Int64) {
            self.series = series
            self.period = period
            self.start = start
        }

        public var deviceID: String { series.deviceID }
        public var key: String { series.key }
    }

    public static let fiveMinutes: Int64 = 300_000
    public static let hour: Int64 = 3_600_000
    public static let day: Int64 = 86_400_000

    /// The series id of (device, key), created on first use; nil when the device is gone (a sample queued before
    /// its removal is dropped, not a foreign-key failure of the batch).
    func seriesID(deviceID: String, key: String, in db: Database) throws -> Int64? {
        let cacheKey = SeriesKey(deviceID: deviceID, key: key)
        if seriesCache.withLock({ $0 == nil }) {
            // All of them in one query: one lookup per series after every start was a tenth of the writer's work
            // while 10,000 devices sent their first samples.
            var all: [SeriesKey: Int64] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT id, device_id, key FROM history_series")
            while let row = try rows.next() { all[SeriesKey(deviceID: row[1], key: row[2])] = row[0] }
            seriesCache.withLock { $0 = all }
        }
        if let cached = seriesCache.withLock({ $0?[cacheKey] }) { return cached }
        try db.cachedStatement(
            sql: "INSERT OR IGNORE INTO history_series (device_id, key) SELECT ?1, ?2 WHERE EXISTS (SELECT 1 FROM device WHERE id = ?1)"
        ).execute(arguments: [deviceID, key])
        let id: Int64
        if db.changesCount > 0 {
            id = db.lastInsertedRowID
        } else if let existing = try Int64.fetchOne(
            db.cachedStatement(sql: "SELECT id FROM history_series WHERE device_id = ? AND key = ?"),
            arguments: [deviceID, key]
        ) {
            // Not in the cache but in the table: never a failed batch for a series the cache missed.
            id = existing
        } else {
            return nil
        }
        seriesCache.withLock { $0?[cacheKey] = id }
        return id
    }

    func append(samples: [Sample], in db: Database) throws {
        guard !samples.isEmpty else { return }
        var rows: [(series: Int64, at: Int64, value: Double)] = []
        rows.reserveCapacity(samples.count)
        for sample in samples {
            guard let series = try seriesID(deviceID: sample.deviceID, key: sample.key, in: db) else { continue }
            rows.append((series, sample.at, sample.value))
        }
        rows.sort { ($0.series, $0.at) < ($1.series, $1.at) }
        let insert = try BoundStatement(db, sql: "INSERT OR REPLACE INTO history (series, at, value) VALUES (?, ?, ?)")
        for row in rows {
            try insert.bind(1, row.series)
            try insert.bind(2, row.at)
            try insert.bind(3, row.value)
            try insert.run()
        }
    }

    /// Merges roll-up deltas into `statistics`.
    func merge<Deltas: Sequence>(rollups: Deltas, in db: Database) throws where Deltas.Element == (key: BucketKey, value: Rollup) {
        for (bucket, rollup) in rollups { try merge(bucket, rollup, in: db) }
    }

    /// Adds one bucket's delta to its row (created if new).
    func merge(_ bucket: BucketKey, _ rollup: Rollup, in db: Database) throws {
        let upsert = try db.cachedStatement(
            sql: """
                INSERT INTO statistics (series, period, start, sum, count, min, max, last, last_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (series, period, start) DO UPDATE SET
                    sum = sum + excluded.sum, count = count + excluded.count,
                    min = min(min, excluded.min), max = max(max, excluded.max),
                    last = CASE WHEN excluded.last_at >= last_at THEN excluded.last ELSE last END,
                    last_at = max(last_at, excluded.last_at)
                """
        )
        guard let series = try seriesID(deviceID: bucket.deviceID, key: bucket.key, in: db) else { return }
        try upsert.execute(arguments: [
            series, bucket.period, bucket.start, rollup.sum, rollup.count, rollup.min, rollup.max, rollup.last, rollup.lastAt,
        ])
    }

    /// Deletes history older than `historyBefore` and statistics older than `statisticsBefore` (ms), series by series.
    func prune(historyBefore: Int64, statisticsBefore: Int64, in db: Database) throws -> (history: Int, statistics: Int) {
        var deleted = (history: 0, statistics: 0)
        let series = try Int64.fetchAll(db, sql: "SELECT id FROM history_series")
        let history = try db.cachedStatement(sql: "DELETE FROM history WHERE series = ? AND at < ?")
        let statistics = try db.cachedStatement(sql: "DELETE FROM statistics WHERE series = ? AND start < ?")
        for id in series {
            try history.execute(arguments: [id, historyBefore])
            deleted.history += db.changesCount
            try statistics.execute(arguments: [id, statisticsBefore])
            deleted.statistics += db.changesCount
        }
        return deleted
    }

    /// Forgets cached series ids of a device (its series go with it, ON DELETE CASCADE).
    func forgetSeries(deviceID: String) {
        seriesCache.withLock { cache in cache = cache?.filter { $0.key.deviceID != deviceID } }
    }

    /// Writes 5-minute and hourly statistics for every 5 minutes of `[from, to)`: a day's sine wave around 20.
    /// For benchmarks and fixtures only; the daemon's statistics come from what devices report.
    public func fillStatistics(deviceID: String, key: String, from: Int64, to: Int64) async throws {
        var dayStart = from
        while dayStart < to {
            var rollups: [BucketKey: Rollup] = [:]
            var at = dayStart
            while at < min(to, dayStart + Self.day) {
                let value = 20 + 3 * sin(Double(at % Self.day) / Double(Self.day) * 2 * Double.pi)
                for period in [Self.fiveMinutes, Self.hour] {
                    let bucket = BucketKey(deviceID: deviceID, key: key, period: period, start: (at / period) * period)
                    if rollups[bucket] == nil { rollups[bucket] = Rollup(value, at: at) } else { rollups[bucket]!.add(value, at: at) }
                }
                at += Self.fiveMinutes
            }
            let batch = rollups
            try await writer.write { db in try self.merge(rollups: batch, in: db) }
            dayStart += Self.day
        }
    }

    // MARK: - Reading

    /// One roll-up of a whole window, aggregated inside SQLite (no row reaches Swift): from the hourly statistics
    /// for windows over two days (a year is 8,760 rows), else from the 5-minute ones.
    public func summary(deviceID: String, key: String, since: Int64, until: Int64) async throws -> Rollup? {
        try await writer.read { db in
            guard let series = try Int64.fetchOne(db, sql: "SELECT id FROM history_series WHERE device_id = ? AND key = ?", arguments: [deviceID, key])
            else { return nil }
            let period = until - since > 2 * Self.day ? Self.hour : Self.fiveMinutes
            guard let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT sum(sum) AS sum, sum(count) AS count, min(min) AS min, max(max) AS max, last, max(last_at) AS last_at
                    FROM statistics WHERE series = ? AND period = ? AND start >= ? AND start < ?
                    """,
                arguments: [series, period, (since / period) * period, until]
            ), let count: Int = row["count"], count > 0
            else { return nil }
            var rollup = Rollup(row["last"], at: row["last_at"])
            rollup.sum = row["sum"]
            rollup.count = count
            rollup.min = row["min"]
            rollup.max = row["max"]
            return rollup
        }
    }

    /// One point of a history answer: a value (raw) or a bucket's roll-up.
    public struct HistoryPoint: Sendable, Hashable {
        public var at: Int64
        public var value: Double?
        public var rollup: Rollup?
    }

    /// Raw values of a series, newest first, in `[since, until)`, at most `limit`.
    public func history(deviceID: String, key: String, since: Int64, until: Int64, limit: Int) async throws -> [HistoryPoint] {
        try await writer.read { db in
            guard let series = try Int64.fetchOne(db, sql: "SELECT id FROM history_series WHERE device_id = ? AND key = ?", arguments: [deviceID, key])
            else { return [] }
            return try Row.fetchAll(
                db,
                sql: "SELECT at, value FROM history WHERE series = ? AND at >= ? AND at < ? ORDER BY at DESC LIMIT ?",
                arguments: [series, since, until, limit]
            ).map { HistoryPoint(at: $0["at"], value: $0["value"], rollup: nil) }
        }
    }

    /// Roll-ups of a series, newest first: `period` 5 minutes or an hour as stored, or a day made of hours (UTC).
    public func statistics(deviceID: String, key: String, period: Int64, since: Int64, until: Int64, limit: Int) async throws -> [HistoryPoint] {
        try await writer.read { db in
            guard let series = try Int64.fetchOne(db, sql: "SELECT id FROM history_series WHERE device_id = ? AND key = ?", arguments: [deviceID, key])
            else { return [] }
            let rows: [Row]
            if period == Self.day {
                // Days from hours. SQLite takes `last` from the row where max(last_at) is found (its documented
                // bare-column rule for min/max aggregates).
                rows = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT (start / \(Self.day)) * \(Self.day) AS bucket, sum(sum) AS sum, sum(count) AS count, min(min) AS min,
                            max(max) AS max, last, max(last_at) AS last_at
                        FROM statistics WHERE series = ? AND period = ? AND start >= ? AND start < ?
                        GROUP BY bucket ORDER BY bucket DESC LIMIT ?
                        """,
                    arguments: [series, Self.hour, (since / period) * period, until, limit]
                )
            } else {
                rows = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT start AS bucket, sum, count, min, max, last, last_at FROM statistics
                        WHERE series = ? AND period = ? AND start >= ? AND start < ? ORDER BY start DESC LIMIT ?
                        """,
                    arguments: [series, period, (since / period) * period, until, limit]
                )
            }
            return rows.map { row in
                var rollup = Rollup(row["last"], at: row["last_at"])
                rollup.sum = row["sum"]
                rollup.count = row["count"]
                rollup.min = row["min"]
                rollup.max = row["max"]
                return HistoryPoint(at: row["bucket"], value: nil, rollup: rollup)
            }
        }
    }

    /// Series in the history (for `health`; counting the rows themselves would scan millions).
    public func historySeriesCount() async throws -> Int {
        try await writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM history_series") ?? 0 }
    }
}
