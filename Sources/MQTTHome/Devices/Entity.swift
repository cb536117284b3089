/// One thing a device measures or controls (Home Assistant's "entity"): a temperature, a relay, a battery level.
public struct Entity: Sendable, Hashable {
    /// Unique within the device, topic-safe; also the key of its value in the device state (`temperature`).
    public var key: String
    public var name: String
    /// Home Assistant platform: `sensor`, `switch`, `light`, …
    public var platform: String
    /// Where the device publishes this entity's state; may be a filter only when `stateTopicIsFilter`.
    public var stateTopic: String?
    public var stateTopicIsFilter: Bool
    /// Where commands for this entity go.
    public var commandTopic: String?
    /// Commands are published retained (Home Assistant's `retain`); nothing else may publish retained for it.
    public var retain: Bool = false
    public var availability: Availability?
    public var unit: String?
    public var deviceClass: String?
    /// Set for entities found through Home Assistant discovery: where the config came from and all of it.
    public var discovery: Discovery?

    /// A discovered entity's origin: its discovery hash, config topic, `unique_id` and expanded config as received,
    /// so nothing Home Assistant would use is lost and a re-announce is recognized.
    public struct Discovery: Sendable, Hashable {
        /// `"<platform> <discovery id>"`, Home Assistant's discovery hash.
        public var key: String
        public var topic: String
        public var uniqueID: String?
        public var config: JSONObject
        /// Derived once from the config (not per document): no state topic, or `optimistic: true`.
        public let optimistic: Bool
        /// Template keys outside the supported subset.
        public let unsupportedTemplates: [String]

        public init(key: String, topic: String, uniqueID: String?, platform: String, config: JSONObject) {
            self.key = key
            self.topic = topic
            self.uniqueID = uniqueID
            self.config = config
            let behavior = EntityBehavior(platform: platform, config: config)
            optimistic = behavior.isOptimistic
            unsupportedTemplates = behavior.unsupportedTemplates
        }
    }

    /// Where a device says it is reachable, with Home Assistant's default payloads.
    public struct Availability: Sendable, Hashable {
        public var topic: String
        public var payloadAvailable: String
        public var payloadNotAvailable: String

        public init(topic: String, payloadAvailable: String = "online", payloadNotAvailable: String = "offline") {
            self.topic = topic
            self.payloadAvailable = payloadAvailable
            self.payloadNotAvailable = payloadNotAvailable
        }
    }

    public init(
        key: String,
        name: String,
        platform: String,
        stateTopic: String? = nil,
        stateTopicIsFilter: Bool = false,
        commandTopic: String? = nil,
        availability: Availability? = nil,
        unit: String? = nil,
        deviceClass: String? = nil,
        discovery: Discovery? = nil
    ) {
        self.key = key
        self.name = name
        self.platform = platform
        self.stateTopic = stateTopic
        self.stateTopicIsFilter = stateTopicIsFilter
        self.commandTopic = commandTopic
        self.availability = availability
        self.unit = unit
        self.deviceClass = deviceClass
        self.discovery = discovery
    }

    /// The entity as it appears in the device document and RPC results.
    public var json: JSONValue {
        var object = JSONObject()
        object["key"] = .string(key)
        object["name"] = .string(name)
        object["platform"] = .string(platform)
        object["state_topic"] = JSONValue(stateTopic)
        if stateTopicIsFilter { object["state_topic_is_filter"] = true }
        object["command_topic"] = JSONValue(commandTopic)
        if retain { object["retain"] = true }
        if let availability {
            object["availability"] = [
                "topic": .string(availability.topic),
                "payload_available": .string(availability.payloadAvailable),
                "payload_not_available": .string(availability.payloadNotAvailable),
            ]
        }
        if let unit { object["unit"] = .string(unit) }
        if let deviceClass { object["device_class"] = .string(deviceClass) }
        if let discovery {
            object["optimistic"] = .bool(discovery.optimistic)
            if !discovery.unsupportedTemplates.isEmpty {
                object["template_unsupported"] = .array(discovery.unsupportedTemplates.map(JSONValue.string))
            }
            var config = discovery.config
            // The device and origin blocks are the device's attributes; the document keeps one copy.
            config["device"] = nil
            config["origin"] = nil
            object["discovery"] = [
                "key": .string(discovery.key), "topic": .string(discovery.topic), "unique_id": JSONValue(discovery.uniqueID),
                "config": .object(config),
            ]
        }
        return .object(object)
    }

    /// Reads what ``json`` wrote (the store keeps entities in this form).
    public init?(json: JSONValue) {
        guard let key = json["key"]?.stringValue, let name = json["name"]?.stringValue,
            let platform = json["platform"]?.stringValue
        else { return nil }
        self.init(
            key: key,
            name: name,
            platform: platform,
            stateTopic: json["state_topic"]?.stringValue,
            stateTopicIsFilter: json["state_topic_is_filter"]?.boolValue ?? false,
            commandTopic: json["command_topic"]?.stringValue,
            availability: json["availability"].flatMap { availability in
                availability["topic"]?.stringValue.map {
                    Availability(
                        topic: $0,
                        payloadAvailable: availability["payload_available"]?.stringValue ?? "online",
                        payloadNotAvailable: availability["payload_not_available"]?.stringValue ?? "offline"
                    )
                }
            },
            unit: json["unit"]?.stringValue,
            deviceClass: json["device_class"]?.stringValue
        )
        retain = json["retain"]?.boolValue ?? false
    }

    /// Whether commands to this entity are published retained: its own `retain`, or a discovered entity's `retain`.
    public var retainsCommands: Bool {
        retain || discovery?.config["retain"]?.boolValue == true
    }

    /// Every topic the daemon publishes commands on for this entity, each with the config key that names it.
    public var commandTopics: [(key: String, topic: String)] {
        guard let config = discovery?.config else { return commandTopic.map { [("command_topic", $0)] } ?? [] }
        return config.compactMap { key, value in
            guard key.hasSuffix("command_topic") || key == "set_position_topic", let topic = value.stringValue else { return nil }
            return (key, topic)
        }
    }

    /// Every topic the entity reads or is commanded on, with the config key that names it, for the topic policy.
    public var allTopics: [(key: String, topic: String)] {
        guard let config = discovery?.config else {
            var topics: [(key: String, topic: String)] = []
            if let stateTopic { topics.append(("state_topic", stateTopic)) }
            if let commandTopic { topics.append(("command_topic", commandTopic)) }
            if let availability { topics.append(("availability_topic", availability.topic)) }
            return topics
        }
        var topics: [(key: String, topic: String)] = config.compactMap { key, value in
            guard key.hasSuffix("_topic"), let topic = value.stringValue else { return nil }
            return (key, topic)
        }
        for (index, entry) in (config["availability"]?.arrayValue ?? []).enumerated() {
            if let topic = entry["topic"]?.stringValue { topics.append(("availability[\(index)].topic", topic)) }
        }
        return topics
    }
}
