/// The plugin API for agents and automation plugins: `sensors/read`, `sensors/history`, `devices/control`.
///
/// Callers name things the way people do — a device by id or name, a sensor by key, name, device class or a
/// common word in English or Chinese — and never need to know topics or payload dialects.
enum PluginMethods {
    static let read = RPCMethod.Signature(
        name: "sensors/read",
        summary: "One sensor's value, unit, device class and age; stale when older than its expire_after or SENSOR_STALE_AFTER",
        parameters: [
            .init("device", type: "string", required: true, description: "device id or name"),
            .init("sensor", type: "string", required: true,
                description: "what to read: entity key, entity name, device class, or a common word: temperature/温度, "
                    + "humidity/湿度, illuminance/光照, battery/电量, power/功率, voltage/电压, co2/二氧化碳, pm25/PM2.5"),
        ]
    )

    static let history = RPCMethod.Signature(
        name: "sensors/history",
        summary: "A sensor's past, newest first: raw values (HISTORY_DAYS) or 5-minute, hourly or daily mean/min/max/last/count "
            + "(STATISTICS_DAYS), paged",
        parameters: [
            .init("device", type: "string", required: true, description: "device id or name"),
            .init("sensor", type: "string", required: true, description: "as for sensors/read"),
            .init("since", type: "string", description: "from this RFC 3339 time, or this long ago: -24h, 30m, 2h, 7d (default: 24 h before until)"),
            .init("until", type: "string", description: "up to this RFC 3339 time or age (default: now)"),
            .init("resolution", type: "string", description: "raw (default), 5min, hour or day (UTC days)"),
            .init("limit", type: "integer", description: "at most this many items (default 100)", minimum: 1, maximum: 10_000),
            .init("cursor", type: "string", description: "next_cursor of the previous page"),
        ]
    )

    static let statistics = RPCMethod.Signature(
        name: "sensors/statistics",
        summary: "Mean, min, max, last and count of several sensors over one window (from the 5-minute statistics)",
        parameters: [
            .init("sensors", type: "array", required: true, description: "[{device, sensor}, …], at most 50",
                items: ["type": "object", "properties": ["device": ["type": "string"], "sensor": ["type": "string"]], "required": ["device", "sensor"]]),
            .init("since", type: "string", description: "from this RFC 3339 time, or this long ago: -24h, 7d (default: 24 h before until)"),
            .init("until", type: "string", description: "up to this RFC 3339 time or age (default: now)"),
        ]
    )

    static let control = RPCMethod.Signature(
        name: "devices/control",
        summary: "The plugin contract: switch a device's port (the n-th light, relay, cover, …) with devices/set's confirmation",
        parameters: [
            .init("device_uuid", type: "string", required: true, description: "device id or name"),
            .init("port_type", type: "string", required: true,
                description: "light/led, switch/relay/outlet, cover/curtain, fan, lock, climate, valve, or any platform"),
            .init("port_id", type: "integer|string", required: true, description: "the n-th port of that type counting from 1, or the entity key"),
            .init("action", type: "string|number", required: true,
                description: "on, off, toggle, open, close, stop, lock, unlock, press, or a value (brightness 0-255, position 0-100, temperature, option)"),
            .init("confirm_timeout_ms", type: "integer", description: "how long to wait for the device's confirmation (default 3000)",
                minimum: 0, maximum: 60_000),
        ]
    )

    static func register(into router: inout RPCRouter, registry: DeviceRegistry, writer: StoreWriter, staleAfter: Duration) {
        router.register(
            RPCMethod(Self.read) { params throws(RPCError) in
                try registry.readSensor(device: try params.string("device"), sensor: try params.string("sensor"), staleAfter: staleAfter)
            }
        )
        router.register(
            RPCMethod(Self.history) { params throws(RPCError) in
                let resolutionText = try params.optionalString("resolution") ?? "raw"
                guard let resolution = DeviceRegistry.Resolution(rawValue: resolutionText) else {
                    throw .invalidParams("resolution", "must be raw, 5min, hour or day, got '\(resolutionText)'")
                }
                let cursor = try params.optionalString("cursor").map { text throws(RPCError) -> Int64 in
                    guard let value = Int64(text) else { throw .invalidParams("cursor", "not a cursor of sensors/history: '\(text)'") }
                    return value
                }
                return try await registry.sensorHistory(
                    device: try params.string("device"),
                    sensor: try params.string("sensor"),
                    window: try Self.window(params),
                    resolution: resolution,
                    limit: Int(try params.optionalInt("limit", in: 1...10_000) ?? 100),
                    cursor: cursor,
                    writer: writer
                )
            }
        )
        router.register(
            RPCMethod(Self.statistics) { params throws(RPCError) in
                let list = params.object["sensors"]?.arrayValue ?? []
                guard !list.isEmpty, list.count <= 50 else { throw .invalidParams("sensors", "give 1 to 50 {device, sensor} objects") }
                var sensors: [(device: String, sensor: String)] = []
                for (index, entry) in list.enumerated() {
                    guard let device = entry["device"]?.stringValue, let sensor = entry["sensor"]?.stringValue else {
                        throw .invalidParams("sensors", "item \(index) must be an object with device and sensor strings")
                    }
                    sensors.append((device, sensor))
                }
                return try await registry.sensorStatistics(sensors, window: try Self.window(params), writer: writer)
            }
        )
        router.register(
            RPCMethod(Self.control) { params throws(RPCError) in
                let timeout = try params.optionalInt("confirm_timeout_ms", in: 0...60_000) ?? 3000
                return try await registry.control(
                    device: try params.string("device_uuid"),
                    portType: try params.string("port_type"),
                    portID: params.object["port_id"] ?? .null,
                    action: params.object["action"] ?? .null,
                    timeout: .milliseconds(timeout)
                )
            }
        )
    }

    /// Seconds since the epoch for `since`: an RFC 3339 time, or an age (`90s`, `30m`, `2h`, `1d`, also written
    /// `-24h`) before `now`.
    static func since(_ text: String, now: Double) -> Double? {
        if let seconds = Timestamp.seconds(from: text) { return seconds }
        let age = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604_800]
        guard let unit = age.last.flatMap({ units[$0] }), let amount = Double(age.dropLast()), amount >= 0, amount.isFinite else { return nil }
        return now - amount * unit
    }

    /// `since` and `until` of a request as a window in ms (default: the 24 hours before now).
    static func window(_ params: RPCParams, now: Double = Timestamp.currentSeconds()) throws(RPCError) -> DeviceRegistry.Window {
        func time(_ name: String) throws(RPCError) -> Double? {
            guard let text = try params.optionalString(name) else { return nil }
            guard let seconds = since(text, now: now) else {
                throw .invalidParams(name, "expected an RFC 3339 time (2026-11-23T08:00:00Z) or an age like -24h, 30m, 7d; got '\(text)'")
            }
            return seconds
        }
        let end = try time("until") ?? now
        let start = try time("since") ?? end - 86_400
        // A window that ends before it starts (since in the future) is empty, not an error.
        return DeviceRegistry.Window(since: Int64((start * 1000).rounded()), until: Int64((end * 1000).rounded()) + 1)
    }
}
