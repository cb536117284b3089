/// `sensors/history` and `sensors/statistics`: a sensor's past, from the history and statistics tables.
extension DeviceRegistry {
    /// How `sensors/history` answers: raw values, or 5-minute, hourly or daily (UTC) roll-ups.
    public enum Resolution: String, Sendable, CaseIterable {
        case raw, fiveMinutes = "5min", hour, day

        var period: Int64 {
            switch self {
            case .raw: 0
            case .fiveMinutes: DeviceStore.fiveMinutes
            case .hour: DeviceStore.hour
            case .day: DeviceStore.day
            }
        }
    }

    /// A time window in ms since the epoch, `[since, until)`.
    public struct Window: Sendable {
        public var since: Int64
        public var until: Int64
    }

    /// One sensor's history at a resolution, newest first, paged by `cursor` (the previous page's `next_cursor`).
    public func sensorHistory(
        device query: String,
        sensor: String,
        window: Window,
        resolution: Resolution,
        limit: Int,
        cursor: Int64?,
        writer: StoreWriter
    ) async throws(RPCError) -> JSONValue {
        let (device, state) = try find(query)
        let (candidate, _) = try resolveSensor(sensor, device: device, state: state)
        let until = min(window.until, cursor ?? Int64.max)
        let points: [DeviceStore.HistoryPoint]
        do {
            // What is queued (and the open buckets' roll-ups) is part of the history.
            try await writer.flushHistory()
            points = resolution == .raw
                ? try await writer.store.history(deviceID: device.id, key: candidate.key, since: window.since, until: until, limit: limit)
                : try await writer.store.statistics(
                    deviceID: device.id, key: candidate.key, period: resolution.period, since: window.since, until: until, limit: limit)
        } catch {
            throw .internalError("cannot read the history: \(error)")
        }
        var result: JSONObject = [
            "device": .string(device.id), "sensor": .string(candidate.key),
            "unit": candidate.entity?.unit.map(JSONValue.string) ?? .null, "resolution": .string(resolution.rawValue),
            "since": .string(Timestamp.string(milliseconds: window.since)), "until": .string(Timestamp.string(milliseconds: window.until)),
            "items": .array(points.map(Self.json)),
            "next_cursor": points.count == limit ? (points.last.map { .string(String($0.at)) } ?? .null) : .null,
        ]
        if points.isEmpty && resolution == .raw && cursor == nil {
            // No numeric history (a text sensor, or values older than HISTORY_DAYS): what the message log remembers.
            let logged = try await sensorLogHistory(device: device, state: state, candidate: candidate, since: Double(window.since) / 1000, limit: limit, store: writer.store)
            if !logged.isEmpty {
                result["items"] = .array(logged)
                result["source"] = "log"
            }
        }
        return .object(result)
    }

    /// Mean, min, max, last and count of several sensors over one window, from the 5-minute statistics (hourly ones
    /// for windows over two days).
    public func sensorStatistics(
        _ sensors: [(device: String, sensor: String)],
        window: Window,
        writer: StoreWriter
    ) async throws(RPCError) -> JSONValue {
        do {
            try await writer.flushHistory()
        } catch {
            throw .internalError("cannot read the statistics: \(error)")
        }
        var items: [JSONValue] = []
        for (query, sensor) in sensors {
            let (device, state) = try find(query)
            let (candidate, _) = try resolveSensor(sensor, device: device, state: state)
            let total: DeviceStore.Rollup?
            do {
                total = try await writer.store.summary(deviceID: device.id, key: candidate.key, since: window.since, until: window.until)
            } catch {
                throw .internalError("cannot read the statistics: \(error)")
            }
            var item: JSONObject = [
                "device": .string(device.id), "sensor": .string(candidate.key),
                "unit": candidate.entity?.unit.map(JSONValue.string) ?? .null, "count": JSONValue(total?.count ?? 0),
            ]
            if let total {
                item["mean"] = EntityBehavior.number((total.mean * 1000).rounded() / 1000)
                item["min"] = EntityBehavior.number(total.min)
                item["max"] = EntityBehavior.number(total.max)
                item["last"] = EntityBehavior.number(total.last)
                item["last_at"] = .string(Timestamp.string(milliseconds: total.lastAt))
            } else {
                for key in ["mean", "min", "max", "last", "last_at"] { item[key] = .null }
            }
            items.append(.object(item))
        }
        return [
            "since": .string(Timestamp.string(milliseconds: window.since)), "until": .string(Timestamp.string(milliseconds: window.until)),
            "items": .array(items),
        ]
    }

    static func json(_ point: DeviceStore.HistoryPoint) -> JSONValue {
        guard let rollup = point.rollup else {
            return ["at": .string(Timestamp.string(milliseconds: point.at)), "value": point.value.map(EntityBehavior.number) ?? .null]
        }
        return [
            "start": .string(Timestamp.string(milliseconds: point.at)),
            "mean": EntityBehavior.number((rollup.mean * 1000).rounded() / 1000), "min": EntityBehavior.number(rollup.min),
            "max": EntityBehavior.number(rollup.max), "last": EntityBehavior.number(rollup.last), "count": JSONValue(rollup.count),
        ]
    }
}
