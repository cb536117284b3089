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
        summary: "A sensor's past values from the device's stored log, newest first",
        parameters: [
            .init("device", type: "string", required: true, description: "device id or name"),
            .init("sensor", type: "string", required: true, description: "as for sensors/read"),
            .init("since", type: "string", description: "only values since this RFC 3339 time, or an age such as 30m, 2h, 1d"),
            .init("limit", type: "integer", description: "at most this many values (default 100)", minimum: 1, maximum: 1000),
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
                let since = try params.optionalString("since").map { text throws(RPCError) -> Double in
                    guard let seconds = Self.since(text, now: Timestamp.currentSeconds()) else {
                        throw .invalidParams("since", "expected an RFC 3339 time (2026-11-23T08:00:00Z) or an age like 30m, 2h, 1d; got '\(text)'")
                    }
                    return seconds
                }
                let limit = Int(try params.optionalInt("limit", in: 1...1000) ?? 100)
                do {
                    try await writer.perform { _, _ in }  // what is queued is part of the history
                } catch {
                    throw .internalError("cannot read the log: \(error)")
                }
                return try await registry.sensorHistory(
                    device: try params.string("device"),
                    sensor: try params.string("sensor"),
                    since: since,
                    limit: limit,
                    store: writer.store
                )
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

    /// Seconds since the epoch for `since`: an RFC 3339 time, or an age (`90s`, `30m`, `2h`, `1d`) before `now`.
    static func since(_ text: String, now: Double) -> Double? {
        if let seconds = Timestamp.seconds(from: text) { return seconds }
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604_800]
        guard let unit = text.last.flatMap({ units[$0] }), let amount = Double(text.dropLast()), amount >= 0 else { return nil }
        return now - amount * unit
    }
}
