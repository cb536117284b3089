import Mosquitto
import Synchronization

/// The device RPC methods: `devices/list|get|add|update|remove|command|logs` and `dashboard`.
enum DeviceMethods {
    static let list = RPCMethod.Signature(
        name: "devices/list",
        summary: "List devices with their state, filtered and paged (next_cursor feeds the next call)",
        parameters: [
            .init("type", type: "string", description: "only this type, e.g. light, switch, sensor"),
            .init("online", type: "boolean", description: "true: only online devices; false: only offline ones"),
            .init("name", type: "string", description: "only devices whose name contains this text (case-insensitive)"),
            .init("origin", type: "string", description: "manual or ha_discovery"),
            .init("area", type: "string", description: "only devices in this area (room), e.g. kitchen (case-insensitive)"),
            .init("limit", type: "integer", description: "page size (default 100)", minimum: 1, maximum: 1000),
            .init("cursor", type: "string", description: "next_cursor of the previous page"),
        ]
    )

    static let get = RPCMethod.Signature(
        name: "devices/get",
        summary: "One device with its entities and state, by id or exact name",
        parameters: [.init("id", type: "string", required: true, description: "device id or name, as devices/list shows it")]
    )

    static let set = RPCMethod.Signature(
        name: "devices/set",
        summary: "Set an entity in its own payload dialect; answers confirmed, unconfirmed (timeout) or sent (optimistic). "
            + "Targets one device (id), a list (ids) or an area (with an optional type), at most 50 devices at once",
        parameters: [
            .init("id", type: "string", description: "device id or name (or give ids, or area)"),
            .init("ids", type: "array", description: "several devices at once, by id or name", items: ["type": "string"]),
            .init("area", type: "string", description: "every controllable device in this area (room), e.g. kitchen"),
            .init("type", type: "string", description: "with area: only devices of this type, e.g. light"),
            .init("entity", type: "string", description: "entity key when the device has several (default: its main controllable entity)"),
            .init("state", type: "string|boolean", description: "ON, OFF or toggle; open, close or stop for covers and valves; lock or unlock; press for buttons, activate for scenes; start_mowing, pause or dock for lawn mowers; install for updates"),
            .init("brightness", type: "integer", description: "light brightness", minimum: 0, maximum: 255),
            .init("color_temp", type: "integer", description: "light colour temperature in mireds (153 cold - 500 warm)", minimum: 0),
            .init("rgb", type: "array", description: "light colour [r, g, b], each 0-255",
                items: ["type": "integer", "minimum": 0, "maximum": 255]),
            .init("position", type: "number", description: "cover position, 0 closed - 100 open", minimum: 0, maximum: 100),
            .init("tilt", type: "number", description: "cover tilt 0-100", minimum: 0, maximum: 100),
            .init("temperature", type: "number", description: "thermostat target temperature"),
            .init("mode", type: "string", description: "thermostat mode: off, heat, cool, auto, …"),
            .init("fan_mode", type: "string", description: "thermostat fan mode"),
            .init("preset_mode", type: "string", description: "fan or thermostat preset"),
            .init("percentage", type: "number", description: "fan speed 0-100", minimum: 0, maximum: 100),
            .init("value", type: "any", description: "value for number, select, text, date (YYYY-MM-DD), time (HH:MM[:SS]) and datetime (ISO 8601) entities; the raw payload for others"),
            .init("tone", type: "string", description: "siren tone, one of its available_tones"),
            .init("volume_level", type: "number", description: "siren volume 0-1", minimum: 0, maximum: 1),
            .init("duration", type: "number", description: "siren duration in seconds", minimum: 0, maximum: 86_400),
            .init("message", type: "string", description: "notify entities: the message to send"),
            .init("confirm_timeout_ms", type: "integer", description: "how long to wait for the device's confirmation (default 3000)",
                minimum: 0, maximum: 60_000),
        ]
    )

    static let areas = RPCMethod.Signature(
        name: "areas/list",
        summary: "Every area (room) with its devices: how many, how many online, per type, and their ids"
    )

    static func register(into router: inout RPCRouter, registry: DeviceRegistry, writer: StoreWriter) {
        router.register(RPCMethod(Self.areas) { _ throws(RPCError) in registry.areas() })
        router.register(
            RPCMethod(Self.list) { params throws(RPCError) in
                let filter = DeviceRegistry.ListFilter(
                    type: try params.optionalString("type"),
                    online: try params.optionalBool("online"),
                    name: try params.optionalString("name"),
                    origin: try params.optionalString("origin"),
                    area: try params.optionalString("area")
                )
                let limit = Int(try params.optionalInt("limit", in: 1...1000) ?? 100)
                return registry.list(filter, limit: limit, cursor: try params.optionalString("cursor"))
            }
        )
        router.register(
            RPCMethod(Self.get) { params throws(RPCError) in try registry.get(try params.string("id")) }
        )
        router.register(
            RPCMethod(
                name: "devices/add",
                summary: "Add a device that publishes its state on a topic; returns it with its new id",
                parameters: DeviceSpec.addParameters
            ) { params throws(RPCError) in
                try await registry.add(try DeviceSpec.parse(params, adding: true))
            }
        )
        router.register(
            RPCMethod(
                name: "devices/import",
                summary: "Add many devices at once (each as devices/add takes it), committed in one transaction; answered per device",
                parameters: [
                    .init(
                        "devices", type: "array", required: true,
                        description: "device objects with devices/add's parameters, at most \(DeviceRegistry.importLimit)",
                        items: ["type": "object"]
                    ),
                    .init("atomic", type: "boolean", description: "true: add none unless every device is valid (default false: add the valid ones)"),
                ]
            ) { params throws(RPCError) in
                let items = params.object["devices"]?.arrayValue ?? []
                return try await registry.importDevices(items, atomic: try params.optionalBool("atomic") ?? false)
            }
        )
        router.register(
            RPCMethod(
                name: "devices/update",
                summary: "Change a device's name, type, attributes or topics; its version increases",
                parameters: [.init("id", type: "string", required: true, description: "device id or exact name")]
                    + DeviceSpec.parameters
            ) { params throws(RPCError) in
                try await registry.update(id: try params.string("id"), try DeviceSpec.parse(params, adding: false))
            }
        )
        router.register(
            RPCMethod(
                name: "devices/remove",
                summary: "Remove a device, its log, and every retained topic it had",
                parameters: [.init("id", type: "string", required: true, description: "device id or exact name")]
            ) { params throws(RPCError) in try await registry.remove(id: try params.string("id")) }
        )
        router.register(
            RPCMethod(
                name: "devices/command",
                summary: "Publish a payload to a device's command topic; returns what was published",
                parameters: [
                    .init("id", type: "string", required: true, description: "device id or exact name"),
                    .init("payload", type: "string|any", required: true, description: "a string is sent as is; other JSON values are serialized"),
                    .init("entity", type: "string", description: "entity key (default: the first with a command topic)"),
                    .init("qos", type: "integer", description: "0, 1 or 2 (default 1)"),
                    .init("retain", type: "boolean", description: "publish retained; only for entities configured with retain (default: the entity's retain)"),
                ]
            ) { params throws(RPCError) in
                let payload: [UInt8]
                switch params.object["payload"] ?? .null {
                case .string(let text): payload = Array(text.utf8)
                case let value: payload = value.jsonBytes
                }
                let qos = QoS(rawValue: Int32(try params.optionalInt("qos", in: 0...2) ?? 1)) ?? .atLeastOnce
                return try registry.command(
                    id: try params.string("id"),
                    entity: try params.optionalString("entity"),
                    payload: payload,
                    qos: qos,
                    retain: try params.optionalBool("retain")
                )
            }
        )
        router.register(
            RPCMethod(Self.set) { params throws(RPCError) in
                var intent = params.object
                for key in ["id", "ids", "area", "type", "entity", "confirm_timeout_ms"] { intent[key] = nil }
                let timeout = Duration.milliseconds(try params.optionalInt("confirm_timeout_ms", in: 0...60_000) ?? 3000)
                let entity = try params.optionalString("entity")
                let ids = try params.optionalStringArray("ids")
                let area = try params.optionalString("area")
                let type = try params.optionalString("type")
                let targets = [params.object["id"] != nil && params.object["id"] != .null, ids != nil, area != nil].filter { $0 }.count
                guard targets == 1 else {
                    throw .invalidParams(targets == 0 ? "id" : "area", "give exactly one of id (one device), ids (a list) or area (with an optional type)")
                }
                if type != nil && area == nil { throw .invalidParams("type", "type narrows an area; use it with area") }
                if let id = try params.optionalString("id") {
                    return try await registry.set(id: id, entity: entity, intent: intent, timeout: timeout)
                }
                let target: DeviceRegistry.BulkTarget = ids.map { .ids($0) } ?? .area(area ?? "", type: type)
                return try await registry.setMany(target, entity: entity, intent: intent, timeout: timeout)
            }
        )
        router.register(
            RPCMethod(
                name: "devices/logs",
                summary: "A device's received (rx) and sent (tx) messages, newest first",
                parameters: [
                    .init("id", type: "string", required: true, description: "device id or exact name"),
                    .init("limit", type: "integer", description: "1-1000 (default 50)"),
                    .init("direction", type: "string", description: "rx or tx"),
                    .init("before", type: "integer", description: "only entries older than this log id (next_before of the previous page)"),
                ]
            ) { params throws(RPCError) in
                let (device, _) = try registry.find(try params.string("id"))
                let limit = Int(try params.optionalInt("limit", in: 1...1000) ?? 50)
                let direction = try params.optionalString("direction")
                if let direction, direction != "rx" && direction != "tx" {
                    throw .invalidParams("direction", "must be rx or tx, got '\(direction)'")
                }
                let before = try params.optionalInt("before", in: 1...Int64.max)
                let entries: [DeviceStore.LogEntry]
                do {
                    // Commit what is queued first, so a caller reads its own command in the log.
                    try await writer.perform { _, _ in }
                    entries = try await writer.store.log(deviceID: device.id, limit: limit, direction: direction, before: before)
                } catch {
                    throw .internalError("cannot read the log: \(error)")
                }
                var budget = ReplyBudget()
                var items: [JSONValue] = []
                var last: Int64? = nil
                for entry in entries {
                    let item = entry.json
                    guard budget.admit(item) else { break }
                    items.append(item)
                    last = entry.id
                }
                let more = entries.count == limit || items.count < entries.count
                let next: JSONValue = more ? (last.map { .int($0) } ?? .null) : .null
                return ["id": .string(device.id), "items": .array(items), "next_before": next]
            }
        )
        router.register(
            RPCMethod(
                name: "dashboard",
                summary: "Totals: devices, online/offline, per type and origin, recent activity, ingest counters"
            ) { _ throws(RPCError) in
                var result = registry.totals().objectValue ?? JSONObject()
                // The totals come from memory; a store that cannot be read costs the activity list only, and says so.
                do {
                    result["recent_activity"] = .array(try await writer.store.recentActivity(limit: 10).map(\.json))
                } catch {
                    result["recent_activity"] = []
                    result["recent_activity_error"] = .string("the store cannot be read: \(error)")
                }
                result["ingest"] = registry.ingestStatistics(writer: writer)
                return .object(result)
            }
        )
    }
}
