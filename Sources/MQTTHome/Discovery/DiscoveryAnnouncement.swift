/// What mqtt-home tells Home Assistant about the devices it manages: one retained device-based discovery config per
/// device that did not come from discovery (`<prefix>/device/<node>_<id>/config`), and one for the daemon itself,
/// the "bridge" every device is `via_device` of — the way Zigbee2MQTT makes its devices appear with no YAML.
///
/// Every component reads the normalized `<base>/devices/<id>/state` document and commands go to
/// `<base>/devices/<id>/set` (JSON, executed like `devices/set`). Availability is the device's own and the daemon's
/// `<base>/status`, mode `all`: a stopped daemon makes its devices unavailable instead of leaving stale values.
///
/// Pure: the registry decides when to publish; this only builds topics and payloads.
public struct DiscoveryAnnouncement: Sendable {
    public let prefix: String
    public let topics: Topics
    /// `mqtt_home` for the default base topic: starts every object id, unique id and identifier, so two daemons
    /// with different base topics on one broker do not overwrite each other's configs.
    public let node: String
    let version: String

    public init(prefix: String, topics: Topics, version: String = MQTTHomeVersion.current) {
        self.prefix = prefix
        self.topics = topics
        self.version = version
        node = String(topics.base.unicodeScalars.map { scalar -> Character in
            let safe = (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z") || (scalar >= "0" && scalar <= "9")
            return safe ? Character(scalar) : "_"
        })
    }

    /// `<prefix>/device/<node>_<id>/config`; device ids are `[a-z0-9_-]`, which Home Assistant accepts in a topic.
    public func configTopic(deviceID: String) -> String { "\(prefix)/device/\(node)_\(deviceID)/config" }
    /// The daemon's own device: `<prefix>/device/<node>/config`.
    public var bridgeTopic: String { "\(prefix)/device/\(node)/config" }
    /// Where Home Assistant announces itself (`online` after it starts): the cue to publish everything again.
    public var birthTopic: String { "\(prefix)/status" }
    var bridgeIdentifier: String { "\(node)_bridge" }

    /// Whose config a topic is: the bridge's, a device's (by id), or nobody's (nil) — so the daemon's discovery
    /// reader skips its own announcements and can clear stale ones.
    public enum Owner: Sendable, Hashable {
        case bridge
        case device(String)
    }

    public func owner(ofConfigTopic topic: String) -> Owner? {
        if topic == bridgeTopic { return .bridge }
        let start = "\(prefix)/device/\(node)_"
        guard topic.hasPrefix(start), topic.hasSuffix("/config") else { return nil }
        let id = topic.dropFirst(start.count).dropLast("/config".count)
        return id.isEmpty || id.contains("/") ? nil : .device(String(id))
    }

    /// Devices Home Assistant learnt from someone else's discovery are not announced again (they would appear
    /// twice); everything else is.
    public static func isAnnounced(_ device: Device) -> Bool { device.origin != "ha_discovery" }

    var origin: JSONValue { ["name": "mqtt-home", "sw": .string(version)] }

    /// The bridge: the daemon as a device, with a connectivity sensor on `<base>/status`.
    public func bridgeConfig() -> JSONValue {
        let device: JSONObject = [
            "identifiers": [.string(bridgeIdentifier)], "name": "mqtt-home", "manufacturer": "mqtt-home",
            "model": "mqtt-homed", "sw_version": .string(version),
        ]
        let connectivity: JSONObject = [
            "platform": "binary_sensor", "unique_id": .string("\(bridgeIdentifier)_connection_state"), "name": "Connection state",
            "device_class": "connectivity", "entity_category": "diagnostic", "state_topic": .string(topics.status),
            "value_template": "{{ value_json.state }}", "payload_on": "online", "payload_off": "offline",
        ]
        return ["device": .object(device), "origin": origin, "components": ["connection_state": .object(connectivity)]]
    }

    /// The device's config, or nil when it is not announced (it came from discovery).
    public func config(for device: Device, state: DeviceState) -> JSONValue? {
        config(for: device, state: state, measured: Self.measuredKeys(device, state))
    }

    /// With the state fields announced as sensors (``measuredKeys(_:_:)``) computed by the caller, which keeps
    /// their count.
    func config(for device: Device, state: DeviceState, measured: [String]) -> JSONValue? {
        guard Self.isAnnounced(device) else { return nil }
        var info: JSONObject = [
            "identifiers": [.string("\(node)_\(device.id)")], "name": .string(device.name), "via_device": .string(bridgeIdentifier),
        ]
        for (key, attribute) in [("manufacturer", "manufacturer"), ("model", "model"), ("sw_version", "sw_version"), ("hw_version", "hw_version")] {
            if let text = device.attributes[attribute]?.stringValue, !text.isEmpty { info[key] = .string(String(text.prefix(256))) }
        }
        if let area = device.area?.trimmed, !area.isEmpty { info["suggested_area"] = .string(area) }
        var components = JSONObject()
        let several = device.entities.count > 1
        for entity in device.entities {
            // A sensor whose payload is a JSON object has its fields as values, not its own key: its fields are
            // announced below, and an entity that would stay unknown forever is not.
            if entity.platform == "sensor", state.values[entity.key] == nil, !measured.isEmpty { continue }
            var component = Component(device: device, entity: entity, objectID: several ? "\(device.id)_\(entity.key)" : device.id, topics: topics)
            component.config["unique_id"] = .string("\(node)_\(device.id)_\(entity.key)")
            component.config["name"] = several || entity.name != device.name ? .string(entity.name) : .null
            if entity.stateTopic == nil { component.config["optimistic"] = true }
            (Platform.named(entity.platform)?.announce ?? Component.readOnly)(&component)
            components[entity.key] = .object(component.config)
        }
        for key in measured.sorted() {
            guard let measurement = Self.measurement(key: key, value: state.values[key]!) else { continue }
            var config: JSONObject = [
                "platform": .string(measurement.platform), "unique_id": .string("\(node)_\(device.id)_\(key)"),
                "name": .string(key.replacingUnderscores), "state_topic": .string(topics.deviceState(device.id)),
            ]
            config["object_id"] = .string("\(device.id)_\(key)")
            config["default_entity_id"] = .string("\(measurement.platform).\(device.id)_\(key)")
            if let deviceClass = measurement.deviceClass { config["device_class"] = .string(deviceClass) }
            if measurement.platform == "binary_sensor" {
                config["value_template"] = .string(Component.onOffTemplate(key, inverted: measurement.inverted))
            } else {
                config["value_template"] = .string(Component.valueTemplate(key))
                if let unit = measurement.unit { config["unit_of_measurement"] = .string(unit) }
                config["state_class"] = .string(measurement.stateClass)
            }
            if measurement.diagnostic { config["entity_category"] = "diagnostic" }
            components[key] = .object(config)
        }
        // The device's own availability only when something can make it online: its availability topic, or a state
        // it reports. A device that only takes commands (a notify, a button) is never heard from, so it would stay
        // unavailable in Home Assistant, which then drops every command to it.
        var sources: [JSONValue] = [["topic": .string(topics.status), "value_template": "{{ value_json.state }}"]]
        if device.hasAvailability || components.contains(where: { $0.value["state_topic"] != nil }) {
            sources.append(["topic": .string(topics.deviceAvailability(device.id))])
        }
        let availability = JSONValue.array(sources)
        return [
            "device": .object(info), "origin": origin, "availability": availability, "availability_mode": "all",
            "components": .object(components),
        ]
    }

    /// One announced entity, as a platform's ``Platform/announce`` shapes it: the common keys are already set.
    /// (Entity keys are `[a-z0-9_-]`, so they are valid component ids.)
    public struct Component: Sendable {
        public var config: JSONObject
        let key: String
        let several: Bool
        let setTopic: String
        /// A select's choices, from the device's `options` attribute (a manual device has no other source).
        let options: [String]?

        init(device: Device, entity: Entity, objectID: String, topics: Topics) {
            key = entity.key
            several = device.entities.count > 1
            options = device.attributes["options"]?.arrayValue?.compactMap(\.stringValue)
            setTopic = "\(topics.base)/devices/\(device.id)/set"
            config = ["platform": .string(entity.platform), "state_topic": .string(topics.deviceState(device.id))]
            config["object_id"] = .string(objectID)
            config["default_entity_id"] = .string("\(entity.platform).\(objectID)")
            if let deviceClass = entity.deviceClass { config["device_class"] = .string(deviceClass) }
            if let unit = entity.unit { config["unit_of_measurement"] = .string(unit) }
        }

        /// `{"state":"ON"}` (with `"entity"` when the device has several): what the set topic executes.
        func command(_ intent: JSONObject) -> String {
            var object = intent
            if several { object["entity"] = .string(key) }
            return JSONValue.object(object).jsonString
        }

        /// A command whose value Home Assistant fills in (`{{ value }}`), as a command template.
        func commandTemplate(_ field: String, quoted: Bool) -> String {
            let entity = several ? ", \"entity\": \(JSONValue.string(key).jsonString)" : ""
            let value = quoted ? "{{ value | tojson }}" : "{{ value }}"
            return "{\"\(field)\": \(value)\(entity)}"
        }

        mutating func commands(to keys: KeyValuePairs<String, JSONObject>) {
            config["command_topic"] = .string(setTopic)
            for (configKey, intent) in keys { config[configKey] = .string(command(intent)) }
        }

        /// The entity's value, or nothing (an empty result Home Assistant ignores) while the state has none.
        /// (Keys here are `[A-Za-z0-9_-]`: quoting them needs no escapes.)
        static func valueTemplate(_ key: String, filter: String = "") -> String {
            let quoted = "'\(key)'"
            return "{{ value_json[\(quoted)]\(filter) if \(quoted) in value_json else '' }}"
        }

        /// ON or OFF from whatever the device reports: ON/on/true/1/open…, as Home Assistant expects it.
        /// `on`/`off`: what the template renders (lights and fans compare it with their command payloads, having
        /// no `state_on`).
        static func onOffTemplate(_ key: String, inverted: Bool = false, on onText: String = "ON", off offText: String = "OFF") -> String {
            let quoted = "'\(key)'"
            let (on, off) = inverted ? (offText, onText) : (onText, offText)
            return "{% if \(quoted) in value_json %}{% set v = value_json[\(quoted)] | string | lower %}"
                + "{{ '\(on)' if v in ['on', 'true', '1', 'open', 'yes', 'detected', 'wet'] else '\(off)' }}{% endif %}"
        }

        /// Buttons and scenes have no state in Home Assistant.
        mutating func withoutState() {
            config["state_topic"] = nil
            config["optimistic"] = nil
        }

        mutating func readValue(_ filter: String = "") { config["value_template"] = .string(Self.valueTemplate(key, filter: filter)) }

        /// Platforms with no shape of their own: the value, read-only, as a sensor.
        static let readOnly: @Sendable (inout Component) -> Void = { component in
            component.config["platform"] = "sensor"
            let objectID = component.config["object_id"]?.stringValue ?? component.key
            component.config["default_entity_id"] = .string("sensor.\(objectID)")
            component.config["optimistic"] = nil
            component.config["device_class"] = nil
            component.readValue()
        }
    }

    // MARK: - Known fields of a JSON state

    struct Measurement {
        var platform = "sensor"
        var deviceClass: String?
        var unit: String?
        var stateClass = "measurement"
        /// binary_sensor: the field is true when the sensor is *off* (a contact sensor's `contact: true` is closed).
        var inverted = false
        var diagnostic = false
    }

    /// Home Assistant's device class and unit for the measurements ``SensorAliases`` knows, keyed by its
    /// canonical name.
    static let measurements: [String: Measurement] = [
        "temperature": .init(deviceClass: "temperature", unit: "°C"),
        "humidity": .init(deviceClass: "humidity", unit: "%"),
        "illuminance": .init(deviceClass: "illuminance", unit: "lx"),
        "battery": .init(deviceClass: "battery", unit: "%", diagnostic: true),
        "power": .init(deviceClass: "power", unit: "W"),
        "voltage": .init(deviceClass: "voltage", unit: "V"),
        "current": .init(deviceClass: "current", unit: "A"),
        "energy": .init(deviceClass: "energy", unit: "kWh", stateClass: "total_increasing"),
        "carbon_dioxide": .init(deviceClass: "carbon_dioxide", unit: "ppm"),
        "carbon_monoxide": .init(deviceClass: "carbon_monoxide", unit: "ppm"),
        "pm25": .init(deviceClass: "pm25", unit: "µg/m³"),
        "pm10": .init(deviceClass: "pm10", unit: "µg/m³"),
        "pressure": .init(deviceClass: "pressure", unit: "hPa"),
        "volatile_organic_compounds": .init(),
        "formaldehyde": .init(),
        "signal_strength": .init(diagnostic: true),
        "sound_pressure": .init(deviceClass: "sound_pressure", unit: "dB"),
        "occupancy": .init(platform: "binary_sensor", deviceClass: "occupancy"),
        "contact": .init(platform: "binary_sensor", deviceClass: "door", inverted: true),
        "moisture": .init(platform: "binary_sensor", deviceClass: "moisture"),
        "smoke": .init(platform: "binary_sensor", deviceClass: "smoke"),
    ]

    /// The state fields no entity owns that are announced as sensors of their own.
    static func measuredKeys(_ device: Device, _ state: DeviceState) -> [String] {
        state.values.keys.filter { key in
            !device.entities.contains { $0.key == key } && measurement(key: key, value: state.values[key]!) != nil
        }
    }

    /// The sensor a state field becomes, if it is a measurement mqtt-home knows and its value has the right type;
    /// a key outside `[A-Za-z0-9_]` (at most 64) is never announced.
    static func measurement(key: String, value: JSONValue) -> Measurement? {
        guard !key.isEmpty, key.utf8.count <= 64,
            key.unicodeScalars.allSatisfy({ ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || $0 == "_" }),
            let canonical = SensorAliases.canonical(key), var measurement = measurements[canonical]
        else { return nil }
        switch value {
        case .bool: guard measurement.platform == "binary_sensor" else { return nil }
        case .int, .double: guard measurement.platform == "sensor" else { return nil }
        default: return nil
        }
        // `linkquality` is Zigbee's LQI (0–255), not dBm: no device class.
        if canonical == "signal_strength", key.lowercased() == "rssi" {
            measurement.deviceClass = "signal_strength"
            measurement.unit = "dBm"
        }
        return measurement
    }
}
