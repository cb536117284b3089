/// Reads Home Assistant discovery messages the way Home Assistant does (protocols.md §1.1–1.6): topic matcher,
/// JSON object only, abbreviations at the root, in `device`, `origin`, `availability[]` and `components.*`, the `~`
/// rule, device-based discovery with inherited shared options, `migrate_discovery`, and per-platform required keys.
///
/// Pure: no registry, no I/O, so the conformance fixtures test it directly.
public enum DiscoveryParser {
    /// True for a topic under `prefix/` that ends in `/config`: what the discovery lane carries.
    public static func isConfigTopic(_ topic: String, prefix: String) -> Bool {
        topic.hasSuffix("/config") && topic.hasPrefix(prefix) && topic.utf8.dropFirst(prefix.utf8.count).first == UInt8(ascii: "/")
    }

    /// Platforms Home Assistant discovers over MQTT (``Platform/catalogue``; `device` is the device-based form).
    public static var platforms: Set<String> { Platform.names }

    /// `<prefix>/<component>/[<node_id>/]<object_id>/config`, split.
    public struct Address: Sendable, Hashable {
        public var component: String
        public var nodeID: String?
        public var objectID: String
        public var topic: String
    }

    /// One item Home Assistant would set up: its hash `(platform, discovery id)` and its expanded config.
    public struct Component: Sendable, Hashable {
        public var platform: String
        public var discoveryID: String
        /// The component's key in `components` for device-based discovery, else the topic's object id.
        public var objectID: String
        public var topic: String
        /// Fully expanded, `~` applied, shared device options merged in; `device` and `origin` included.
        public var config: JSONObject

        /// `"<platform> <discovery id>"`: Home Assistant's discovery hash as one string.
        public var key: String { "\(platform) \(discoveryID)" }
    }

    public enum Message: Sendable, Hashable {
        /// Configs to create or update; `removed` lists hashes of device components reduced to `{"platform": …}`.
        case configs([Component], removed: [String])
        /// An empty payload: remove the item (single) or every component discovered under the device topic.
        case removal(Address)
        /// `{"migrate_discovery": true}`: forget the topic's item but keep the entity for its new config.
        case migration(Address)
        case invalid(String)
        /// A platform Home Assistant does not discover over MQTT (a typo, or one newer than this daemon): refused
        /// like an invalid config and also counted by name.
        case unknownPlatform(String, reason: String)
    }

    /// Splits a discovery topic (the prefix already matched); nil when it is not a config topic at all.
    public static func address(topic: String, prefix: String) throws(DiscoveryError) -> Address? {
        guard topic.hasPrefix(prefix + "/"), topic.hasSuffix("/config") else { return nil }
        let levels = topic.dropFirst(prefix.count + 1).split(separator: "/", omittingEmptySubsequences: false)
        guard levels.count == 3 || levels.count == 4 else { throw .init("illegal discovery topic") }
        func isID(_ text: Substring) -> Bool {
            !text.isEmpty && text.unicodeScalars.allSatisfy {
                ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || $0 == "_" || $0 == "-"
            }
        }
        let component = levels[0]
        guard !component.isEmpty, component.unicodeScalars.allSatisfy({ ($0.properties.isAlphabetic || ($0 >= "0" && $0 <= "9") || $0 == "_") }) else {
            throw .init("illegal discovery topic")
        }
        let nodeID = levels.count == 4 ? levels[1] : nil
        let objectID = levels[levels.count - 2]
        guard isID(objectID), nodeID.map(isID) ?? true else { throw .init("illegal discovery topic") }
        guard component == "device" || platforms.contains(String(component)) else {
            throw .init("'\(component)' is not a platform Home Assistant discovers over MQTT", unknownPlatform: String(component))
        }
        return Address(component: String(component), nodeID: nodeID.map(String.init), objectID: String(objectID), topic: topic)
    }

    public static func parse(topic: String, payload: [UInt8], prefix: String) -> Message? {
        let address: Address
        do {
            guard let found = try Self.address(topic: topic, prefix: prefix) else { return nil }
            address = found
        } catch {
            return error.unknownPlatform.map { .unknownPlatform($0, reason: error.message) } ?? .invalid(error.message)
        }
        if payload.isEmpty { return .removal(address) }
        guard let json = try? JSONParser.parse(payload, maxDepth: 32) else { return .invalid("the payload is not JSON") }
        guard case .object(let raw) = json else { return .invalid("the payload is \(json.typeName), not a JSON object") }
        var root = DiscoveryAbbreviations.expand(raw, DiscoveryAbbreviations.root)
        if root["migrate_discovery"]?.boolValue == true { return .migration(address) }
        if let device = root["device"] {
            guard case .object(let object) = device else { return .invalid("'device' must be an object") }
            root["device"] = .object(DiscoveryAbbreviations.expand(object, DiscoveryAbbreviations.device))
        }
        if let origin = root["origin"] {
            guard case .object(let object) = origin else { return .invalid("'origin' must be an object") }
            let expanded = DiscoveryAbbreviations.expand(object, DiscoveryAbbreviations.origin)
            guard expanded["name"]?.stringValue?.isEmpty == false else { return .invalid("'origin' needs a 'name'") }
            root["origin"] = .object(expanded)
        }
        do {
            if address.component == "device" { return try device(address, root) }
            let config = try prepared(root, platform: address.component)
            let discoveryID = address.nodeID.map { "\($0) \(address.objectID)" } ?? address.objectID
            return .configs(
                [Component(platform: address.component, discoveryID: discoveryID, objectID: address.objectID, topic: topic, config: config)],
                removed: []
            )
        } catch {
            return error.unknownPlatform.map { .unknownPlatform($0, reason: error.message) } ?? .invalid(error.message)
        }
    }

    /// Keys a device config shares with its components unless a component sets them itself [HA-disc, HA-docs].
    static let sharedOptions = [
        "availability", "availability_mode", "availability_template", "availability_topic", "payload_available",
        "payload_not_available", "command_topic", "state_topic", "qos", "encoding",
    ]

    private static func device(_ address: Address, _ root: JSONObject) throws(DiscoveryError) -> Message {
        guard case .object = root["device"] else { throw .init("device-based discovery needs 'device'") }
        guard case .object = root["origin"] else { throw .init("device-based discovery needs 'origin'") }
        guard case .object(let components) = root["components"] ?? .null else {
            throw .init("device-based discovery needs 'components' (an object)")
        }
        var configs: [Component] = []
        var removed: [String] = []
        for (componentID, value) in components {
            guard case .object(let raw) = value else { throw .init("component '\(componentID)' must be an object") }
            var config = DiscoveryAbbreviations.expand(raw, DiscoveryAbbreviations.root)
            guard let platform = config.removeValue(forKey: "platform")?.stringValue else {
                throw .init("component '\(componentID)' needs 'platform'")
            }
            guard platforms.contains(platform) else {
                throw .init("component '\(componentID)': '\(platform)' is not a platform Home Assistant discovers over MQTT", unknownPlatform: platform)
            }
            let objectID = address.nodeID.map { "\($0) \(componentID)" } ?? componentID
            let discoveryID = "\(address.objectID) \(objectID)"
            if config.isEmpty {
                removed.append("\(platform) \(discoveryID)")
                continue
            }
            for key in sharedOptions where config[key] == nil {
                if let shared = root[key] { config[key] = shared }
            }
            config["device"] = root["device"]
            config["origin"] = root["origin"]
            if platform != "device_automation" && platform != "tag" && config["unique_id"] == nil {
                throw .init("component '\(componentID)' needs 'unique_id' in device-based discovery")
            }
            let prepared = try prepared(config, platform: platform, context: "component '\(componentID)': ")
            configs.append(Component(platform: platform, discoveryID: discoveryID, objectID: componentID, topic: address.topic, config: prepared))
        }
        return .configs(configs, removed: removed)
    }

    /// Availability entries expanded, `~` applied, topics and required keys checked.
    private static func prepared(_ input: JSONObject, platform: String, context: String = "") throws(DiscoveryError) -> JSONObject {
        var config = input
        if let availability = config["availability"] {
            // Home Assistant reads it with ensure_list: one object is a list of one.
            let entries: [JSONValue]
            switch availability {
            case .array(let list): entries = list
            case .object: entries = [availability]
            default: throw .init("\(context)'availability' must be a list of objects (or one object)")
            }
            var expanded: [JSONValue] = []
            for entry in entries {
                guard case .object(let object) = entry else { throw .init("\(context)each 'availability' entry must be an object") }
                expanded.append(.object(DiscoveryAbbreviations.expand(object, DiscoveryAbbreviations.root)))
            }
            config["availability"] = .array(expanded)
            if config["availability_topic"] != nil {
                throw .init("\(context)'availability' and 'availability_topic' must not both be set")
            }
        }
        if let base = config.removeValue(forKey: "~") {
            guard case .string(let base) = base else { throw .init("\(context)'~' must be a string") }
            for key in config.keys where key.hasSuffix("topic") {
                if case .string(let value) = config[key]! { config[key] = .string(replaceBase(value, base)) }
            }
            if case .array(let entries) = config["availability"] ?? .null {
                config["availability"] = .array(entries.map { entry in
                    guard case .object(var object) = entry, case .string(let topic) = object["topic"] ?? .null else { return entry }
                    object["topic"] = .string(replaceBase(topic, base))
                    return .object(object)
                })
            }
        }
        try checkTopics(config, context: context)
        for key in requiredKeys(platform, config) where config[key] == nil || config[key] == .null {
            throw .init("\(context)\(platform) needs '\(key)'")
        }
        return config
    }

    /// Home Assistant's `_replace_topic_base`: a `~` at the start or at the end; both tests use the original value.
    static func replaceBase(_ value: String, _ base: String) -> String {
        guard !value.isEmpty else { return value }
        if value.hasPrefix("~") { return base + value.dropFirst() }
        if value.hasSuffix("~") { return value.dropLast() + base }
        return value
    }

    private static func checkTopics(_ config: JSONObject, context: String) throws(DiscoveryError) {
        var topics: [(String, JSONValue)] = config.filter { $0.key.hasSuffix("topic") }.map { ($0.key, $0.value) }
        if case .array(let entries) = config["availability"] ?? .null {
            for entry in entries {
                guard let topic = entry["topic"] else { throw .init("\(context)each 'availability' entry needs 'topic'") }
                topics.append(("availability[].topic", topic))
            }
        }
        for (key, value) in topics {
            guard case .string(let topic) = value else { throw .init("\(context)'\(key)' must be a string, not \(value.typeName)") }
            // Command topics are published to; everything else is subscribed to and may be a filter.
            let problem = key.hasSuffix("command_topic") || key == "command_topic"
                ? TopicRules.publishTopicProblem(topic, allowDollar: true) : TopicRules.filterProblem(topic)
            if let problem { throw .init("\(context)'\(key)' \(problem): '\(topic)'") }
        }
    }

    /// Keys Home Assistant's platform schemas require (``Platform/requiredKeys``).
    static func requiredKeys(_ platform: String, _ config: JSONObject) -> [String] {
        Platform.named(platform)?.requiredKeys(config) ?? []
    }
}

/// Why a discovery config was refused: the reason logged once with its topic and counted in `health`.
public struct DiscoveryError: Error, Sendable, Hashable {
    public var message: String
    public var unknownPlatform: String?
    init(_ message: String, unknownPlatform: String? = nil) {
        self.message = message
        self.unknownPlatform = unknownPlatform
    }
}
