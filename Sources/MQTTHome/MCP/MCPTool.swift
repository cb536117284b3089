/// One MCP tool: what a model reads to choose it and the RPC method it calls. Its `inputSchema` is derived from the
/// method's declared parameters (``RPCMethod/Signature``), so the tool and `rpc/methods` cannot drift apart; the
/// tool only renames (`device` for `id`), hides (paging) or presets parameters, and may trim the result.
struct MCPTool: Sendable {
    var name: String
    var title: String
    var description: String
    var annotations: Annotations
    var method: RPCMethod.Signature
    /// Tool argument → RPC parameter, where the tool speaks a model's words (`device` for `id`).
    var renames: [String: String] = [:]
    /// RPC parameters a tool does not offer, and the values it sends for them (nil: not sent).
    var preset: [String: JSONValue?] = [:]
    /// Arguments the tool requires although the method does not (a tool may narrow a method: `set_device` needs the
    /// one `device` that `devices/set` takes among its targets).
    var alsoRequired: Set<String> = []
    /// The JSON Schema of `structuredContent` (what `shape` returns), for results whose shape is known.
    var outputSchema: JSONValue?
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

    /// The tool's arguments: the method's parameters, renamed, without the preset ones.
    var arguments: [(name: String, parameter: RPCMethod.Parameter)] {
        let toTool = Dictionary(uniqueKeysWithValues: renames.map { ($0.value, $0.key) })
        return method.parameters.compactMap { parameter in
            preset.keys.contains(parameter.name) ? nil : (toTool[parameter.name] ?? parameter.name, parameter)
        }
    }

    /// The entry in `tools/list`.
    var listing: JSONValue {
        var object: JSONObject = [
            "name": .string(name),
            "title": .string(title),
            "annotations": annotations.json,
            "description": .string(description),
            "inputSchema": [
                "type": "object",
                "properties": .object(JSONObject(arguments.map { ($0.name, $0.parameter.schema) })),
                "required": .array(arguments.filter { $0.parameter.required || alsoRequired.contains($0.name) }.map { .string($0.name) }),
                "additionalProperties": false,
            ],
        ]
        if let outputSchema { object["outputSchema"] = outputSchema }
        return .object(object)
    }

    /// The RPC parameters for `arguments`: unknown and missing required ones refused with a message the model can
    /// act on, types checked against the declaration, names mapped, presets added.
    func params(_ arguments: JSONObject) throws(RPCError) -> JSONObject {
        let offered = self.arguments
        var params = JSONObject()
        for (key, value) in arguments {
            guard let (_, parameter) = offered.first(where: { $0.name == key }) else {
                throw .invalidParams(key, "\(name) has no argument '\(key)'; it takes \(offered.map(\.name).joined(separator: ", "))")
            }
            if let problem = parameter.problem(value) { throw .invalidParams(key, problem) }
            params[parameter.name] = value
        }
        for (argument, parameter) in offered where (parameter.required || alsoRequired.contains(argument)) && (arguments[argument] ?? .null).isNull {
            throw .invalidParams(argument, "\(name) needs '\(argument)'")
        }
        for (key, value) in preset {
            if let value { params[key] = value }
        }
        return params
    }

    static let all: [MCPTool] = [
        MCPTool(
            name: "list_devices",
            title: "List devices",
            description: "List the smart-home devices: id, name, type (light, switch, sensor, binary_sensor, cover, "
                + "climate, …), online, last_seen and current state. Call this first to find the id of a device the "
                + "user means; filter by type, online, or part of the name.",
            annotations: .read,
            method: DeviceMethods.list,
            preset: ["limit": 1000, "cursor": nil],
            outputSchema: [
                "type": "object",
                "properties": [
                    "devices": [
                        "type": "array",
                        "items": [
                            "type": "object",
                            "properties": [
                                "id": ["type": "string"], "name": ["type": "string"], "type": ["type": "string"],
                                "online": ["type": "boolean"], "last_seen": ["type": ["string", "null"]], "state": ["type": "object"],
                            ],
                            "required": ["id", "name", "type", "online", "state"],
                        ],
                    ],
                    "more": ["type": "boolean", "description": "true when there are more than 1,000 devices"],
                ],
                "required": ["devices", "more"],
            ],
            shape: { result in
                let items = (result["items"]?.arrayValue ?? []).map { device -> JSONValue in
                    [
                        "id": device["id"] ?? .null, "name": device["name"] ?? .null, "type": device["type"] ?? .null,
                        "online": device["online"] ?? .null, "last_seen": device["last_seen"] ?? .null,
                        "state": device["state"] ?? [:],
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
            method: DeviceMethods.get,
            renames: ["device": "id"],
            outputSchema: [
                "type": "object",
                "properties": [
                    "id": ["type": "string"], "name": ["type": "string"], "type": ["type": "string"], "online": ["type": "boolean"],
                    "entities": ["type": "array", "items": ["type": "object"]], "state": ["type": "object"],
                ],
                "required": ["id", "name", "type", "entities", "state"],
            ]
        ),
        MCPTool(
            name: "read_sensor",
            title: "Read a sensor",
            description: "Read one measurement of a device: value, unit, device class, when it was updated and "
                + "whether it is stale. The sensor may be named by entity key, entity name, device class or a plain "
                + "word in English or Chinese: temperature/温度, humidity/湿度, illuminance/光照, battery/电量, "
                + "power/功率, voltage/电压, co2/二氧化碳, pm25/PM2.5. If several sensors fit, the error lists them.",
            annotations: .read,
            method: PluginMethods.read,
            outputSchema: [
                "type": "object",
                "properties": [
                    "value": ["description": "the value: a number, text, true/false or null when unknown"],
                    "unit": ["type": ["string", "null"]], "device_class": ["type": ["string", "null"]],
                    "updated_at": ["type": ["string", "null"]], "age_s": ["type": ["number", "null"]], "stale": ["type": "boolean"],
                ],
                "required": ["value", "stale"],
            ]
        ),
        MCPTool(
            name: "sensor_history",
            title: "Sensor history",
            description: "The past of one sensor, newest first: raw values (kept 10 days) or, with resolution 5min, hour "
                + "or day, the mean, min, max and last of each period (kept a year). Use for \"how cold did it get last "
                + "night\" (since -12h, resolution hour) or trends; since/until take RFC 3339 times or ages like -24h, 7d.",
            annotations: .read,
            method: PluginMethods.history,
            outputSchema: [
                "type": "object",
                "properties": [
                    "device": ["type": "string"], "sensor": ["type": "string"], "unit": ["type": ["string", "null"]],
                    "resolution": ["type": "string"],
                    "items": [
                        "type": "array",
                        "items": [
                            "type": "object",
                            "description": "raw: {at, value}; 5min/hour/day: {start, mean, min, max, last, count}",
                        ],
                    ],
                    "next_cursor": ["type": ["string", "null"]],
                ],
                "required": ["device", "sensor", "items"],
            ]
        ),
        MCPTool(
            name: "sensor_statistics",
            title: "Sensor statistics",
            description: "Mean, min, max, last value and sample count of several sensors over one window at once, e.g. "
                + "every temperature in the house over the last 24 hours. Each sensor is {device, sensor} as for read_sensor.",
            annotations: .read,
            method: PluginMethods.statistics,
            outputSchema: [
                "type": "object",
                "properties": [
                    "items": [
                        "type": "array",
                        "items": [
                            "type": "object",
                            "properties": [
                                "device": ["type": "string"], "sensor": ["type": "string"], "count": ["type": "integer"],
                                "mean": ["type": ["number", "null"]], "min": ["type": ["number", "null"]], "max": ["type": ["number", "null"]],
                            ],
                            "required": ["device", "sensor", "count"],
                        ],
                    ],
                ],
                "required": ["items"],
            ]
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
            method: DeviceMethods.set,
            renames: ["device": "id"],
            preset: ["ids": nil, "area": nil, "type": nil],
            alsoRequired: ["device"],
            outputSchema: setOutputSchema
        ),
        MCPTool(
            name: "set_area",
            title: "Set every device in an area",
            description: "Change every controllable device in an area (room) at once, optionally only those of one "
                + "type: \"turn off all lights in the kitchen\" is area kitchen, type light, state OFF. Same fields and "
                + "confirmation as set_device, answered per device; devices that take no commands (sensors) are "
                + "listed as skipped. At most 50 devices. list_areas names the areas.",
            annotations: .control,
            method: DeviceMethods.set,
            preset: ["id": nil, "ids": nil],
            alsoRequired: ["area"],
            outputSchema: [
                "type": "object",
                "properties": [
                    "results": ["type": "array", "items": ["type": "object", "properties": ["id": ["type": "string"], "status": ["type": "string"]], "required": ["id", "status"]]],
                    "skipped": ["type": "array", "items": ["type": "object"]],
                    "count": ["type": "integer"], "confirmed": ["type": "integer"], "unconfirmed": ["type": "integer"],
                    "sent": ["type": "integer"], "failed": ["type": "integer"],
                ],
                "required": ["results", "count"],
            ]
        ),
        MCPTool(
            name: "list_areas",
            title: "List areas",
            description: "The areas (rooms) of the home, each with its number of devices, how many are online, how "
                + "many of each type and their ids. Use it to resolve \"the kitchen\" before list_devices or set_area.",
            annotations: .read,
            method: DeviceMethods.areas,
            outputSchema: [
                "type": "object",
                "properties": [
                    "areas": [
                        "type": "array",
                        "items": ["type": "object", "properties": ["area": ["type": "string"], "devices": ["type": "integer"]], "required": ["area", "devices"]],
                    ],
                    "unassigned": ["type": "integer"],
                ],
                "required": ["areas", "unassigned"],
            ]
        ),
        MCPTool(
            name: "control_device",
            title: "Control a device port",
            description: "Switch a port of a device the way automation plugins do: port_type (light/led, "
                + "switch/relay/outlet, cover/curtain, fan, lock, climate, valve), port_id (1 for the first port of "
                + "that type, or an entity key) and action (on, off, toggle, open, close, stop, lock, unlock, press, "
                + "or a number: brightness 0-255, position 0-100, temperature). Same confirmation as set_device.",
            annotations: .control,
            method: PluginMethods.control,
            outputSchema: setOutputSchema
        ),
        MCPTool(
            name: "broker_status",
            title: "Broker status",
            description: "The MQTT broker's health (EMQX or mosquitto): state (ok, auth_failed, unreachable, …), "
                + "version, uptime, connected clients, subscriptions, retained messages, message counters and rates "
                + "per second.",
            annotations: .read,
            method: BrokerMethods.status,
            outputSchema: ["type": "object", "properties": ["state": ["type": "string"], "source": ["type": "string"]], "required": ["state"]]
        ),
    ]

    /// What `devices/set` and `devices/control` answer.
    static let setOutputSchema: JSONValue = [
        "type": "object",
        "properties": [
            "id": ["type": "string"], "entity": ["type": "string"],
            "status": ["type": "string", "enum": ["confirmed", "unconfirmed", "sent"]],
            "published": ["type": "array", "items": ["type": "object"]],
            "elapsed_ms": ["type": "integer"],
        ],
        "required": ["id", "entity", "status"],
    ]
}
