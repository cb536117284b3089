import Testing

@testable import MQTTHome

/// The configs mqtt-home announces, checked against Home Assistant's rules for a device-based discovery producer
/// (protocols.md §9.2) and against what the daemon itself accepts back on the set topic.
@Suite("Discovery announcements: the configs Home Assistant gets")
struct DiscoveryAnnouncementTests {
    let announcement = DiscoveryAnnouncement(prefix: "homeassistant", topics: Topics(base: "mqtt-home"), version: "1.2.3")
    /// The platforms Home Assistant 2025.4 discovers (its `SUPPORTED_COMPONENTS`): a component of any other
    /// platform makes it refuse the whole device's config.
    static let oldestSupported: Set<String> = [
        "alarm_control_panel", "binary_sensor", "button", "camera", "climate", "cover", "device_automation", "device_tracker",
        "event", "fan", "humidifier", "image", "lawn_mower", "light", "lock", "notify", "number", "scene", "select", "sensor",
        "siren", "switch", "tag", "text", "update", "vacuum", "valve", "water_heater",
    ]

    static func isID(_ text: String) -> Bool {
        !text.isEmpty && text.unicodeScalars.allSatisfy { ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || $0 == "_" || $0 == "-" }
    }

    func device(_ type: String, entities: [Entity]? = nil, area: String? = nil) -> Device {
        var device = Device(
            id: "dev_1", name: "Dev 1", type: type, attributes: ["model": "M1", "manufacturer": "Acme"], createdAt: "t", updatedAt: "t",
            entities: entities ?? [Entity(key: "state", name: "Dev 1", platform: type, stateTopic: "dev/state", commandTopic: "dev/set")]
        )
        device.area = area
        return device
    }

    @Test("every manual type: HA's producer rules, a platform HA 2025.4 knows, commands that come back as valid intents", arguments: Platform.manualTypes)
    func everyType(type: String) throws {
        let device = device(type, area: "Kitchen")
        let config = try #require(announcement.config(for: device, state: DeviceState(values: ["state": "ON"])))
        let topic = announcement.configTopic(deviceID: device.id)
        let levels = topic.split(separator: "/")
        #expect(levels.count == 4 && levels[1] == "device" && Self.isID(String(levels[2])), "\(topic)")
        #expect(config["device"]?["identifiers"] == ["mqtt_home_dev_1"])
        #expect(config["device"]?["via_device"] == "mqtt_home_bridge")
        #expect(config["device"]?["suggested_area"] == "Kitchen")
        #expect(config["device"]?["model"] == "M1" && config["device"]?["manufacturer"] == "Acme")
        #expect(config["origin"]?["name"] == "mqtt-home" && config["origin"]?["sw"] == "1.2.3")
        #expect(config["availability_mode"] == "all")
        let commandOnly = ["button", "scene", "notify"].contains(type)
        #expect(
            config["availability"]?.arrayValue?.compactMap { $0["topic"]?.stringValue }
                == (commandOnly ? ["mqtt-home/status"] : ["mqtt-home/status", "mqtt-home/devices/dev_1/availability"]),
            "\(type)"
        )
        let components = try #require(config["components"]?.objectValue)
        #expect(components.count == 1)
        for (id, component) in components {
            #expect(Self.isID(id))
            let platform = try #require(component["platform"]?.stringValue)
            #expect(Self.oldestSupported.contains(platform), "\(type) announced as \(platform)")
            #expect(component["unique_id"] == "mqtt_home_dev_1_state")
            #expect(component["default_entity_id"]?.stringValue?.hasPrefix("\(platform).") == true)
            if let command = component["command_topic"] { #expect(command == "mqtt-home/devices/dev_1/set") }
            // Whatever Home Assistant publishes there is an intent the daemon accepts for this entity.
            for (key, value) in component.objectValue ?? JSONObject() where key.hasPrefix("payload_") {
                let payload = try #require(value.stringValue)
                let (entity, intent) = try DeviceSetTopic.intent(from: Array(payload.utf8))
                #expect(entity == nil)
                _ = try ControlIntent(entity: device.entities[0], intent: intent, current: nil)
            }
        }
    }

    @Test("devices that came from discovery are not announced; the bridge is")
    func discoveredAndBridge() throws {
        var discovered = device("switch")
        discovered.origin = "ha_discovery"
        #expect(announcement.config(for: discovered, state: DeviceState()) == nil)
        let bridge = announcement.bridgeConfig()
        #expect(bridge["device"]?["identifiers"] == ["mqtt_home_bridge"])
        #expect(bridge["components"]?["connection_state"]?["state_topic"] == "mqtt-home/status")
        #expect(announcement.owner(ofConfigTopic: "homeassistant/device/mqtt_home/config") == .bridge)
        #expect(announcement.owner(ofConfigTopic: "homeassistant/device/mqtt_home_dev_1/config") == .device("dev_1"))
        #expect(announcement.owner(ofConfigTopic: "homeassistant/device/zigbee2mqtt_1/config") == nil)
        #expect(announcement.owner(ofConfigTopic: "homeassistant/switch/mqtt_home_dev_1/config") == nil)
        // Another base topic announces under its own node, so two daemons never overwrite each other.
        let other = DiscoveryAnnouncement(prefix: "homeassistant", topics: Topics(base: "flat-2"))
        #expect(other.configTopic(deviceID: "x") == "homeassistant/device/flat_2_x/config")
    }

    @Test("a device of several entities: one component each, and commands that name their entity")
    func severalEntities() throws {
        let entities = (1...2).map { Entity(key: "l\($0)", name: "Relay \($0)", platform: "switch", stateTopic: "board/state", commandTopic: "board/\($0)/set") }
        let device = device("switch", entities: entities)
        let config = try #require(announcement.config(for: device, state: DeviceState()))
        let second = try #require(config["components"]?["l2"])
        #expect(second["name"] == "Relay 2")
        #expect(second["object_id"] == "dev_1_l2")
        let payload = try #require(second["payload_on"]?.stringValue)
        let (entity, intent) = try DeviceSetTopic.intent(from: Array(payload.utf8))
        #expect(entity == "l2" && intent == ["state": "ON"])
        #expect(second["value_template"]?.stringValue?.contains("value_json['l2']") == true)
    }

    @Test("a JSON sensor: a sensor per known field with HA's class and unit, not its own empty key; unknown fields skipped")
    func jsonSensor() throws {
        let entity = Entity(key: "value", name: "Climate", platform: "sensor", stateTopic: "esp/climate")
        let device = device("sensor", entities: [entity])
        let state = DeviceState(values: [
            "temperature": 21.5, "humidity": 40, "battery": 90, "contact": true, "linkquality": 120, "rssi": -60,
            "mood": "happy", "temp-raw": 3, "co2": "high",
        ])
        let config = try #require(announcement.config(for: device, state: state))
        let components = try #require(config["components"]?.objectValue)
        #expect(Set(components.keys) == ["temperature", "humidity", "battery", "contact", "linkquality", "rssi"])
        #expect(components["temperature"]?["unit_of_measurement"] == "°C" && components["temperature"]?["device_class"] == "temperature")
        #expect(components["humidity"]?["unit_of_measurement"] == "%")
        #expect(components["battery"]?["entity_category"] == "diagnostic")
        #expect(components["contact"]?["platform"] == "binary_sensor" && components["contact"]?["device_class"] == "door")
        #expect(components["linkquality"]?["device_class"] == nil)
        #expect(components["rssi"]?["unit_of_measurement"] == "dBm")
        // A plain sensor (its own key has the value) keeps its entity.
        let plain = try #require(announcement.config(for: device, state: DeviceState(values: ["value": 3])))
        #expect(plain["components"]?["value"]?["platform"] == "sensor")
    }

    @Test("a notify device sends Home Assistant's message to the set topic as {\"message\": …}")
    func notify() throws {
        let config = try #require(announcement.config(for: device("notify"), state: DeviceState()))
        let component = try #require(config["components"]?["state"])
        #expect(component["platform"] == "notify" && component["state_topic"] == nil)
        #expect(component["command_template"] == #"{"message": {{ value | tojson }}}"#)
        // Never heard from, so never online: only the daemon's status decides whether HA may use it.
        #expect(config["availability"]?.arrayValue?.compactMap { $0["topic"]?.stringValue } == ["mqtt-home/status"])
        // What HA renders for "Someone is at the door" is an intent the notify entity takes.
        let (_, intent) = try DeviceSetTopic.intent(from: Array(#"{"message": "Someone is at the door"}"#.utf8))
        let translation = try ControlIntent(entity: device("notify").entities[0], intent: intent, current: nil)
        #expect(translation.publishes.map(\.payload) == ["Someone is at the door"])
    }

    @Test("a select without options, and 2026 platforms HA 2025.4 does not know, are shown read-only as sensors")
    func readOnlyFallbacks() throws {
        for type in ["select", "date", "datetime", "time", "infrared", "climate"] {
            let config = try #require(announcement.config(for: device(type), state: DeviceState()))
            #expect(config["components"]?["state"]?["platform"] == "sensor", "\(type)")
            #expect(config["components"]?["state"]?["command_topic"] == nil, "\(type)")
        }
        var withOptions = device("select")
        withOptions.attributes["options"] = ["eco", "comfort"]
        let config = try #require(announcement.config(for: withOptions, state: DeviceState()))
        #expect(config["components"]?["state"]?["platform"] == "select")
        #expect(config["components"]?["state"]?["options"] == ["eco", "comfort"])
    }

    @Test("set payloads: intents, bare words, and refusals that name the problem")
    func setPayloads() throws {
        #expect(try DeviceSetTopic.intent(from: Array("ON".utf8)).intent == ["state": "ON"])
        #expect(try DeviceSetTopic.intent(from: Array(#"{"brightness":128,"entity":"l1"}"#.utf8)) == ("l1", ["brightness": 128]))
        for (payload, parameter) in [("", "payload"), (#"{"state":"ON","rm":1}"#, "rm"), ("[1]", "payload"), (#"{"entity":3}"#, "entity")] {
            #expect(throws: RPCError.self) { try DeviceSetTopic.intent(from: Array(payload.utf8)) }
            do {
                _ = try DeviceSetTopic.intent(from: Array(payload.utf8))
            } catch {
                #expect(error.message.contains("'\(parameter)'"), "\(payload): \(error.message)")
            }
        }
        #expect(throws: RPCError.self) { try DeviceSetTopic.intent(from: [UInt8](repeating: 0x41, count: DeviceSetTopic.payloadLimit + 1)) }
    }
}
