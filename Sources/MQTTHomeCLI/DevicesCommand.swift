import ArgumentParser
import MQTTHome

/// `mqtt-home devices …`: the registry, for people (tables) and scripts (`--json`).
struct DevicesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List, inspect, add, change, remove and command devices.",
        discussion: """
            Examples:
              mqtt-home devices list
              mqtt-home devices info kitchen_sensor
              mqtt-home devices set hall_light state=ON
            """,
        subcommands: [
            DevicesList.self, DevicesInfo.self, DevicesAdd.self, DevicesImport.self, DevicesUpdate.self, DevicesRemove.self,
            DevicesCommandPayload.self, DevicesSet.self, DevicesLogs.self,
        ]
    )
}

struct DevicesList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Devices with their status, last message and state, all pages.",
        discussion: """
            Examples:
              mqtt-home devices list
              mqtt-home devices list --type light --online
              mqtt-home devices list --json | jq '.items[].id'
            """
    )

    @Option(help: "Only this type (Home Assistant platform), e.g. light.") var type: String?
    @Flag(help: "Only online devices.") var online = false
    @Flag(help: "Only offline devices.") var offline = false
    @Option(help: "Only names containing this text.") var name: String?
    @Option(help: "Only this origin: manual or ha_discovery.") var origin: String?
    @Option(help: "Only devices in this area (room), case-insensitive.") var area: String?
    @Option(help: "At most this many devices (default: all, paged 1000 at a time).") var limit: Int?
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if online && offline { throw ValidationError("--online and --offline exclude each other") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() async throws {
        var params = JSONObject()
        if let type { params["type"] = .string(type) }
        if online || offline { params["online"] = .bool(online) }
        if let name { params["name"] = .string(name) }
        if let origin { params["origin"] = .string(origin) }
        if let area { params["area"] = .string(area) }
        let (items, next) = try await connection.withSession { try await $0.pages("devices/list", params, limit: limit, pageSize: 1000) }
        output.emit(["items": .array(items), "next_cursor": next]) {
            guard !items.isEmpty else { return "no devices" + (params.isEmpty ? "; add one with: mqtt-home devices add" : " match") }
            let rows = items.map { device in
                [
                    device["id"]?.stringValue ?? "?", device["name"]?.stringValue ?? "", device["type"]?.stringValue ?? "",
                    Display.online(device["online"]), Display.ago(device["last_seen"]?.stringValue),
                    Display.truncated(Self.summary(device), 48),
                ]
            }
            let onlineCount = items.filter { $0["online"]?.boolValue == true }.count
            var text = Display.table(["id", "name", "type", "status", "last seen", "state"], rows)
            text += "\n\(items.count) device\(items.count == 1 ? "" : "s"), \(onlineCount) online"
            if !next.isNull { text += " (more: raise --limit)" }
            return text
        }
    }

    /// `temperature 21.5 °C, humidity 40%`: the state with each entity's unit.
    static func summary(_ device: JSONValue) -> String {
        let units = Dictionary(
            (device["entities"]?.arrayValue ?? []).compactMap { entity in
                entity["key"]?.stringValue.map { ($0, entity["unit"]?.stringValue ?? "") }
            },
            uniquingKeysWith: { first, _ in first }
        )
        let state = device["state"]?.objectValue ?? JSONObject()
        if state.count == 1, let (_, value) = state.first(where: { _ in true }) { return Display.value(value, unit: units.values.first) }
        return state.map { key, value in "\(key) \(Display.value(value, unit: units[key]))" }.joined(separator: ", ")
    }
}

struct DevicesInfo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "One device: status, entities with their topics and values, attributes.",
        discussion: """
            Examples:
              mqtt-home devices info living_room_lamp
              mqtt-home devices info "Living Room Lamp" --json
            """
    )

    @Argument(help: "Device id or name.") var device: String
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let result = try await connection.result("devices/get", ["id": .string(device)])
        output.emit(result) { Self.describe(result) }
    }

    static func describe(_ device: JSONValue) -> String {
        let state = device["state"]?.objectValue ?? JSONObject()
        var text = "\(device["name"]?.stringValue ?? "?") (\(device["id"]?.stringValue ?? "?"))"
        text += " — \(device["type"]?.stringValue ?? "?"), \(device["origin"]?.stringValue ?? "?"), version \(device["version"]?.intValue ?? 0)\n"
        text += Display.fields([
            ("status", "\(Display.online(device["online"])), last seen \(Display.ago(device["last_seen"]?.stringValue))"),
        ])
        let entities = device["entities"]?.arrayValue ?? []
        if !entities.isEmpty {
            let rows = entities.map { entity in
                let key = entity["key"]?.stringValue ?? "?"
                var flags: [String] = []
                if entity["template_unsupported"] != nil { flags.append("template unsupported") }
                if entity["optimistic"]?.boolValue == true { flags.append("optimistic") }
                return [
                    key, entity["platform"]?.stringValue ?? "", Display.value(state[key], unit: entity["unit"]?.stringValue),
                    entity["state_topic"]?.stringValue ?? "—", entity["command_topic"]?.stringValue ?? "—", flags.joined(separator: ", "),
                ]
            }
            text += "\n\n" + Display.table(["entity", "platform", "value", "state topic", "command topic", ""], rows)
        }
        let keys = Set(entities.compactMap { $0["key"]?.stringValue })
        let extra = state.filter { !keys.contains($0.key) }
        if !extra.isEmpty {
            text += "\n\nother state\n" + Display.fields(extra.map { ($0.key, Display.value($0.value)) })
        }
        if let attributes = device["state_attributes"]?.objectValue, !attributes.isEmpty {
            text += "\n\nattributes\n" + Display.fields(attributes.map { ($0.key, Display.truncated(Display.value($0.value), 60)) })
        }
        return text
    }
}

/// Options shared by `devices add` and `devices update`: the device spec's fields.
struct DeviceSpecOptions: ParsableArguments {
    @Option(help: "Home Assistant platform: switch, light, sensor, binary_sensor, cover, …") var type: String?
    @Option(help: "Where the device publishes its state.") var stateTopic: String?
    @Option(help: "Where commands go (\"\" to remove it on update).") var commandTopic: String?
    @Option(help: "Where the device publishes online/offline (\"\" to remove it on update).") var availabilityTopic: String?
    @Option(help: "Availability payload meaning online (default online).") var payloadAvailable: String?
    @Option(help: "Availability payload meaning offline (default offline).") var payloadNotAvailable: String?
    @Option(help: "Unit of measurement, e.g. °C.") var unit: String?
    @Option(help: "Home Assistant device class, e.g. temperature.") var deviceClass: String?
    @Option(help: "Entity key (default: the device class, else value for sensors, else state).") var entity: String?
    @Flag(help: "Allow + and # in --state-topic.") var stateTopicFilter = false
    @Option(help: "Publish commands retained, as Home Assistant's retain (true or false).") var retain: Bool?
    @Option(help: "The area (room) the device is in, e.g. Kitchen (\"\" to remove it on update).") var area: String?
    @Option(name: .customLong("attribute"), help: "A free attribute, key=value (repeatable).") var attributes: [String] = []

    func params() throws -> JSONObject {
        var params = JSONObject()
        func nullable(_ value: String?) -> JSONValue? { value.map { $0.isEmpty ? .null : .string($0) } }
        params["type"] = type.map(JSONValue.string)
        params["state_topic"] = stateTopic.map(JSONValue.string)
        params["command_topic"] = nullable(commandTopic)
        params["availability_topic"] = nullable(availabilityTopic)
        params["payload_available"] = payloadAvailable.map(JSONValue.string)
        params["payload_not_available"] = payloadNotAvailable.map(JSONValue.string)
        params["unit"] = nullable(unit)
        params["device_class"] = nullable(deviceClass)
        params["entity"] = entity.map(JSONValue.string)
        if stateTopicFilter { params["state_topic_filter"] = true }
        params["retain"] = retain.map(JSONValue.bool)
        params["area"] = nullable(area)
        if !attributes.isEmpty {
            var object = JSONObject()
            for pair in attributes {
                let (key, value) = try KeyValue.split(pair, option: "--attribute")
                object[key] = value
            }
            params["attributes"] = .object(object)
        }
        return params
    }
}

struct DevicesAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a device that publishes its state on a topic.",
        discussion: """
            Examples:
              mqtt-home devices add "Kitchen sensor" --type sensor --state-topic zigbee2mqtt/kitchen
              mqtt-home devices add "Hall light" --type light --state-topic hall/light --command-topic hall/light/set
              mqtt-home devices add "Boiler" --type sensor --state-topic boiler/t --unit °C --device-class temperature
            """
    )

    @Argument(help: "Display name, unique.") var name: String
    @Option(help: "Id to use (default: a slug of the name).") var id: String?
    @OptionGroup var spec: DeviceSpecOptions
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if spec.type == nil { throw ValidationError("--type is required, e.g. --type sensor") }
        if spec.stateTopic == nil { throw ValidationError("--state-topic is required, e.g. --state-topic zigbee2mqtt/kitchen") }
    }

    func run() async throws {
        var params = try spec.params()
        params["name"] = .string(name)
        if let id { params["id"] = .string(id) }
        let device = try await connection.result("devices/add", params)
        output.emit(device) { "added \(device["id"]?.stringValue ?? "?") (\(device["name"]?.stringValue ?? name))" }
    }
}

struct DevicesUpdate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update",
        abstract: "Change a device's name, type, topics, unit or attributes; its version increases.",
        discussion: """
            Examples:
              mqtt-home devices update kitchen_sensor --name "Kitchen climate"
              mqtt-home devices update hall_light --command-topic ""
            """
    )

    @Argument(help: "Device id or name.") var device: String
    @Option(help: "New display name.") var name: String?
    @OptionGroup var spec: DeviceSpecOptions
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        var params = try spec.params()
        if let name { params["name"] = .string(name) }
        guard !params.isEmpty else { throw ValidationError("nothing to change: give --name, --type, --state-topic, …") }
        params["id"] = .string(device)
        let updated = try await connection.result("devices/update", params)
        output.emit(updated) { "updated \(updated["id"]?.stringValue ?? device) (version \(updated["version"]?.intValue ?? 0))" }
    }
}

struct DevicesRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove a device, its log and every retained topic it had.",
        discussion: """
            Example:
              mqtt-home devices remove kitchen_sensor
            """
    )

    @Argument(help: "Device id or name.") var device: String
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let result = try await connection.result("devices/remove", ["id": .string(device)])
        output.emit(result) { "removed \(result["id"]?.stringValue ?? device)" }
    }
}

struct DevicesCommandPayload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "command",
        abstract: "Publish a raw payload to a device's command topic.",
        discussion: """
            Examples:
              mqtt-home devices command hall_light ON
              mqtt-home devices command bulb '{"state":"ON","brightness":120}' --entity light
            """
    )

    @Argument(help: "Device id or name.") var device: String
    @Argument(help: "The payload, sent as written.") var payload: String
    @Option(help: "Entity key (default: the first with a command topic).") var entity: String?
    @Option(help: "QoS 0, 1 or 2 (default 1).") var qos: Int?
    @Flag(help: "Publish retained.") var retain = false
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        var params: JSONObject = ["id": .string(device), "payload": .string(payload)]
        if let entity { params["entity"] = .string(entity) }
        if let qos { params["qos"] = .int(Int64(qos)) }
        if retain { params["retain"] = true }
        let result = try await connection.result("devices/command", params)
        output.emit(result) { "published to \(result["topic"]?.stringValue ?? "?")" }
    }
}

struct DevicesSet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Set state, brightness, position, temperature, … in the device's own dialect, and wait for its confirmation.",
        discussion: """
            Fields: \(ControlIntent.fields.joined(separator: ", ")) (which of them a device takes, and their ranges, \
            depend on its platform: `mqtt-home methods devices/set`). A value that parses as JSON is sent as JSON \
            (128, true, [255,0,0]).

            Examples:
              mqtt-home devices set hall_light state=ON
              mqtt-home devices set bulb state=ON brightness=128 --entity light
              mqtt-home devices set blinds position=40 --wait 10
              mqtt-home devices set doorbell message="Someone is at the door"
            Exit 5 when the device did not confirm within --wait.
            """
    )

    @Argument(help: "Device id or name.") var device: String
    @OptionGroup var set: SetFields
    @Option(help: "Entity key (default: the one matching the device type).") var entity: String?
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        var params = try set.params()
        params["id"] = .string(device)
        if let entity { params["entity"] = .string(entity) }
        let result = try await connection.result("devices/set", params, wait: set.wait)
        try Confirmation.report(result, output: output)
    }
}

/// The field=value pairs and the wait shared by `devices set` and `areas set`.
struct SetFields: ParsableArguments {
    @Argument(help: "field=value pairs.") var fields: [String]
    @Option(help: "Seconds to wait for the confirmation (default 3).") var wait: Double = 3

    func validate() throws {
        if fields.isEmpty { throw ValidationError("give at least one field=value, e.g. state=ON") }
        if !(wait >= 0 && wait <= 60) { throw ValidationError("--wait must be from 0 to 60 seconds") }
        for pair in fields { _ = try KeyValue.split(pair, option: "field") }
    }

    /// `devices/set`'s intent and `confirm_timeout_ms`, without a target.
    func params() throws -> JSONObject {
        var params: JSONObject = ["confirm_timeout_ms": .int(Int64(wait * 1000))]
        for pair in fields {
            let (key, value) = try KeyValue.split(pair, option: "field")
            params[key] = value
        }
        return params
    }
}

struct DevicesLogs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "A device's received (rx) and sent (tx) messages, newest first.",
        discussion: """
            Examples:
              mqtt-home devices logs hall_light
              mqtt-home devices logs hall_light --direction tx --limit 5
            """
    )

    @Argument(help: "Device id or name.") var device: String
    @Option(help: "How many (1-1000, default 20).") var limit: Int = 20
    @Option(help: "rx or tx.") var direction: String?
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if !(1...1000).contains(limit) { throw ValidationError("--limit must be from 1 to 1000") }
        if let direction, !["rx", "tx"].contains(direction) { throw ValidationError("--direction must be rx or tx") }
    }

    func run() async throws {
        var params: JSONObject = ["id": .string(device), "limit": .int(Int64(limit))]
        if let direction { params["direction"] = .string(direction) }
        let result = try await connection.result("devices/logs", params)
        output.emit(result) {
            let items = result["items"]?.arrayValue ?? []
            guard !items.isEmpty else { return "no messages logged for \(result["id"]?.stringValue ?? device)" }
            return Display.table(
                ["when", "dir", "topic", "payload"],
                items.map {
                    [
                        Display.ago($0["at"]?.stringValue), $0["direction"]?.stringValue ?? "", $0["topic"]?.stringValue ?? "",
                        Display.truncated($0["payload"]?.stringValue ?? "", 60),
                    ]
                }
            )
        }
    }
}

/// `key=value` arguments; the value is JSON when it parses (`128`, `true`, `[255,0,0]`), else text.
enum KeyValue {
    static func split(_ pair: String, option: String) throws -> (String, JSONValue) {
        guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
            throw ValidationError("\(option) must look like key=value, got '\(pair)'")
        }
        let key = String(pair[..<equals])
        let text = String(pair[pair.index(after: equals)...])
        return (key, (try? JSONParser.parse(text)) ?? .string(text))
    }
}

/// How `devices set` and `control` report `confirmed` / `unconfirmed` / `sent`.
enum Confirmation {
    static func report(_ result: JSONValue, output: OutputOptions) throws {
        let status = result["status"]?.stringValue ?? "?"
        let entity = "\(result["id"]?.stringValue ?? "?")/\(result["entity"]?.stringValue ?? "?")"
        output.emit(result) {
            let published = (result["published"]?.arrayValue ?? []).map {
                "\($0["topic"]?.stringValue ?? "?") ← \($0["payload"]?.stringValue ?? "")"
            }
            var lines: [String] = []
            switch status {
            case "confirmed":
                lines.append("confirmed: \(entity) = \(Display.value(result["value"])) (\(result["elapsed_ms"]?.intValue ?? 0) ms)")
            case "unconfirmed":
                lines.append("sent, not confirmed: \(entity) still reports \(Display.value(result["last_value"])), expected \(Display.value(result["expected"]))")
            default:
                lines.append("sent (nothing reports this entity's state): \(entity)")
            }
            return (lines + published.map { "  " + $0 }).joined(separator: "\n")
        }
        if status == "unconfirmed" {
            throw CLIExit(code: .unconfirmed, message: "\(entity) did not confirm within the wait; the command was sent")
        }
    }
}
