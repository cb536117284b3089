/// One MCP tool: what a model reads to choose it (name, description, JSON schema) and the RPC call it makes.
struct MCPTool: Sendable {
    var name: String
    var title: String
    var description: String
    var annotations: Annotations
    var properties: [(name: String, schema: JSONValue)]
    var required: [String]
    /// The daemon method the tool calls.
    var method: String
    /// Checked arguments → RPC params (renames, defaults).
    var params: @Sendable (JSONObject) -> JSONObject = { $0 }
    /// RPC result → what the model sees (trimmed where the full answer would only cost tokens).
    var shape: @Sendable (JSONValue) -> JSONValue = { $0 }

    /// MCP's tool annotations, told truthfully: clients use them to decide what needs the user's confirmation.
    /// `openWorldHint` is false throughout: every tool acts on the user's own devices and broker, a closed set.
    struct Annotations: Sendable {
        var readOnly: Bool
        /// Changes that cannot be undone by another call (none of our tools: a device set can be set back).
        var destructive = false
        /// Repeating the call has no further effect (false where `toggle` or `press` act again).
        var idempotent: Bool

        static let read = Annotations(readOnly: true, idempotent: true)
        static let control = Annotations(readOnly: false, idempotent: false)

        var json: JSONValue {
            [
                "readOnlyHint": .bool(readOnly), "destructiveHint": .bool(destructive), "idempotentHint": .bool(idempotent),
                "openWorldHint": false,
            ]
        }
    }

    /// The entry in `tools/list`.
    var listing: JSONValue {
        [
            "name": .string(name),
            "title": .string(title),
            "annotations": annotations.json,
            "description": .string(description),
            "inputSchema": [
                "type": "object",
                "properties": .object(JSONObject(properties.map { ($0.name, $0.schema) })),
                "required": .array(required.map(JSONValue.string)),
                "additionalProperties": false,
            ],
        ]
    }

    static func string(_ text: String) -> JSONValue { ["type": "string", "description": .string(text)] }
    static func integer(_ text: String) -> JSONValue { ["type": "integer", "description": .string(text)] }
    static func number(_ text: String) -> JSONValue { ["type": "number", "description": .string(text)] }
    static func boolean(_ text: String) -> JSONValue { ["type": "boolean", "description": .string(text)] }

    /// Copies the declared arguments, refusing unknown ones and missing required ones with a message the model can
    /// act on.
    func checked(_ arguments: JSONObject) throws(RPCError) -> JSONObject {
        let known = Set(properties.map(\.name))
        for key in arguments.keys where !known.contains(key) {
            throw .invalidParams(key, "\(name) has no argument '\(key)'; it takes \(properties.map(\.name).joined(separator: ", "))")
        }
        for key in required where arguments[key] == nil || arguments[key] == .null {
            throw .invalidParams(key, "\(name) needs '\(key)'")
        }
        return arguments
    }

    static let all: [MCPTool] = [
        MCPTool(
            name: "list_devices",
            title: "List devices",
            description: "List the smart-home devices: id, name, type (light, switch, sensor, binary_sensor, cover, "
                + "climate, …), online, last_seen and current state. Call this first to find the id of a device the "
                + "user means; filter by type, online, or part of the name.",
            annotations: .read,
            properties: [
                ("type", string("only this type, e.g. light, switch, sensor")),
                ("online", boolean("true: only online devices; false: only offline ones")),
                ("name", string("only devices whose name contains this text (case-insensitive)")),
            ],
            required: [],
            method: "devices/list",
            params: { arguments in
                var params = arguments
                params["limit"] = 1000
                return params
            },
            shape: { result in
                let items = (result["items"]?.arrayValue ?? []).map { device -> JSONValue in
                    [
                        "id": device["id"] ?? .null, "name": device["name"] ?? .null, "type": device["type"] ?? .null,
                        "online": device["online"] ?? .null, "last_seen": device["last_seen"] ?? .null,
                        "state": device["state"] ?? .null,
                    ]
                }
                return ["devices": .array(items), "more": .bool(!(result["next_cursor"]?.isNull ?? true))]
            }
        ),
        MCPTool(
            name: "get_device",
            title: "Get a device",
            description: "Everything about one device: its entities (each with platform, unit, device class and "
                + "topics), current state, attributes, online and last_seen. Use it to learn which entities a "
                + "device has before set_device or read_sensor.",
            annotations: .read,
            properties: [("device", string("device id or name, as list_devices shows it"))],
            required: ["device"],
            method: "devices/get",
            params: { arguments in ["id": arguments["device"] ?? .null] }
        ),
        MCPTool(
            name: "read_sensor",
            title: "Read a sensor",
            description: "Read one measurement of a device: value, unit, device class, when it was updated and "
                + "whether it is stale. The sensor may be named by entity key, entity name, device class or a plain "
                + "word in English or Chinese: temperature/温度, humidity/湿度, illuminance/光照, battery/电量, "
                + "power/功率, voltage/电压, co2/二氧化碳, pm25/PM2.5. If several sensors fit, the error lists them.",
            annotations: .read,
            properties: [
                ("device", string("device id or name")),
                ("sensor", string("what to read, e.g. temperature, humidity, 温度, battery")),
            ],
            required: ["device", "sensor"],
            method: "sensors/read"
        ),
        MCPTool(
            name: "sensor_history",
            title: "Sensor history",
            description: "Past values of one sensor from the device's recent message log, newest first, each with "
                + "its time. Use for trends (\"was it colder this morning?\"); the log holds the last ~100 messages "
                + "per device.",
            annotations: .read,
            properties: [
                ("device", string("device id or name")),
                ("sensor", string("as for read_sensor")),
                ("since", string("only values since this RFC 3339 time or age, e.g. 2h, 30m, 1d")),
                ("limit", integer("at most this many values, 1-1000 (default 100)")),
            ],
            required: ["device", "sensor"],
            method: "sensors/history"
        ),
        MCPTool(
            name: "set_device",
            title: "Set a device",
            description: "Change a device: turn on/off, dim, set colour temperature or RGB colour, open/close or "
                + "position a cover, set a thermostat's temperature or mode, choose an option. The daemon speaks "
                + "the device's own payload dialect and answers status `confirmed` when the device reported the new "
                + "state, `unconfirmed` (with last_value) when it did not in time, `sent` when it reports nothing. "
                + "Give only the fields you want to change.",
            annotations: .control,
            properties: [
                ("device", string("device id or name")),
                ("entity", string("entity key when the device has several (get_device lists them)")),
                ("state", string("ON, OFF or toggle; open, close or stop for covers; lock or unlock; press for buttons")),
                ("brightness", integer("light brightness 0-255")),
                ("color_temp", integer("light colour temperature in mireds (153 cold - 500 warm)")),
                ("rgb", ["type": "array", "items": ["type": "integer", "minimum": 0, "maximum": 255], "minItems": 3, "maxItems": 3, "description": "light colour [r, g, b]"]),
                ("position", integer("cover position 0 (closed) - 100 (open)")),
                ("tilt", integer("cover tilt 0-100")),
                ("temperature", number("thermostat target temperature")),
                ("mode", string("thermostat mode: off, heat, cool, auto, …")),
                ("fan_mode", string("thermostat fan mode")),
                ("preset_mode", string("fan or thermostat preset")),
                ("percentage", integer("fan speed 0-100")),
                ("value", ["description": "value for number, select and text entities"]),
                ("confirm_timeout_ms", integer("how long to wait for the device's confirmation (default 3000)")),
            ],
            required: ["device"],
            method: "devices/set",
            params: { arguments in
                var params = arguments
                params["id"] = params.removeValue(forKey: "device")
                return params
            }
        ),
        MCPTool(
            name: "control_device",
            title: "Control a device port",
            description: "Switch a port of a device the way automation plugins do: port_type (light/led, "
                + "switch/relay/outlet, cover/curtain, fan, lock, climate, valve), port_id (1 for the first port of "
                + "that type, or an entity key) and action (on, off, toggle, open, close, stop, lock, unlock, press, "
                + "or a number: brightness 0-255, position 0-100, temperature). Same confirmation as set_device.",
            annotations: .control,
            properties: [
                ("device_uuid", string("device id or name")),
                ("port_type", string("light, led, switch, relay, outlet, cover, curtain, fan, lock, climate, valve")),
                ("port_id", ["type": ["integer", "string"], "description": "port number counting from 1, or an entity key"]),
                ("action", ["type": ["string", "number"], "description": "on, off, toggle, open, close, stop, lock, unlock, press, or a value"]),
            ],
            required: ["device_uuid", "port_type", "port_id", "action"],
            method: "devices/control"
        ),
        MCPTool(
            name: "broker_status",
            title: "Broker status",
            description: "The MQTT broker's health (EMQX or mosquitto): state (ok, auth_failed, unreachable, …), "
                + "version, uptime, connected clients, subscriptions, retained messages, message counters and rates "
                + "per second.",
            annotations: .read,
            properties: [],
            required: [],
            method: "broker/status"
        ),
    ]
}
