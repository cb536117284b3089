import Logging
import Mosquitto
import Synchronization

/// The single owner of every device and its state, in memory. Ingest, RPC and republishing all go through it;
/// SQLite (through ``StoreWriter``) is its durable copy and retained topics are its public copy.
///
/// One lock guards the maps, so the ingest path costs a dictionary lookup and a merge per message, no SQL and no
/// actor hop. Changes from RPC are serialized by ``mutations`` and are on disk before they are applied.
public final class DeviceRegistry: Sendable {
    /// Which device and entity a subscribed topic feeds, and whether it carries state or availability.
    struct Route: Hashable, Sendable {
        enum Kind: Hashable, Sendable {
            /// Manual devices: Zigbee2MQTT-style merge, and one availability topic.
            case state, availability
            /// Discovered entities: input `n` of their ``EntityBehavior``, attributes, availability source `n`.
            case input(Int), attributes, availabilitySource(Int)
        }
        var deviceID: String
        var entityKey: String
        var kind: Kind
    }

    struct Contents: ~Copyable {
        var devices: [String: Device] = [:]
        var states: [String: DeviceState] = [:]
        /// Lower-cased name → id, for unique names and lookup by name.
        var names: [String: String] = [:]
        var index = TopicIndex<Route>()
        /// Discovered entities' compiled behaviour, by device id and entity key.
        var behaviors: [String: [String: EntityBehavior]] = [:]
        /// Discovered entities' availability inputs and last update, by device id and entity key.
        var tracking: [String: [String: EntityTracking]] = [:]
        /// Discovery hash → entity; config topic → hashes; `"<platform> <unique_id>"` → entity.
        var discoveryKeys: [String: EntityRef] = [:]
        var discoveryTopics: [String: Set<String>] = [:]
        var uniqueIDs: [String: EntityRef] = [:]
        /// `id:<identifier>` and `cn:<type>:<value>` of discovered devices → device id.
        var identities: [String: String] = [:]
        /// `devices/set` callers waiting for an entity to report a value.
        var waiters: [String: [StateWaiter]] = [:]
        /// Messages applied per device since start (a flooding device shows in `health`).
        var messageCounts: [String: Int] = [:]
        /// Command topic → the devices commanded on it (replies never go there; two devices on one are flagged).
        var commandTopics: [String: Set<String>] = [:]
        /// Discovered entities in all, for `DISCOVERY_MAX_ENTITIES`.
        var discoveredEntities = 0
        /// When each device last gave the history a sample (ms), for the one-a-second bound.
        var lastSampled: [String: Int64] = [:]
    }

    struct EntityRef: Hashable, Sendable {
        var deviceID: String
        var entityKey: String
    }

    /// What HA's availability logic needs per entity: the last result of each availability source, the latest one,
    /// and when its state last arrived (for `expire_after`).
    struct EntityTracking: Sendable {
        var sources: [Bool?] = []
        var latest: Bool?
        var lastUpdate: ContinuousClock.Instant = .now
        var expired = false
    }

    let contents = Mutex(Contents())
    let traffic = TrafficSampler()
    /// While a discovery batch runs: the filters its configs need, subscribed in one go at its end (nil otherwise).
    let deferredSubscriptions = Mutex<[String]?>(nil)
    let writer: StoreWriter
    let publisher: StatePublisher
    let client: MosquittoClient
    let topics: Topics
    let logger: Logger
    let mutations = AsyncLock()
    let matched = Atomic<Int>(0)
    let unmatched = Atomic<Int>(0)
    /// State messages over `STATE_PAYLOAD_LIMIT` on a device topic, not applied.
    let oversized = Atomic<Int>(0)
    let stateKeysDropped = Atomic<Int>(0)
    /// Topics and entities already logged for an oversized message or a template error (bounded).
    let loggedIngestProblems = Mutex<Set<String>>([])
    let discoveryPrefix: String
    let policy: DeviceTopicPolicy
    let limits: Limits
    let discoveryCounters = DiscoveryCounters()
    /// (topic, reason) pairs already logged, so a producer repeating a bad config is logged once.
    let loggedDiscoveryProblems = Mutex<Set<String>>([])

    final class DiscoveryCounters: Sendable {
        let configs = Atomic<Int>(0)
        let invalid = Atomic<Int>(0)
        let removals = Atomic<Int>(0)
        let templateErrors = Atomic<Int>(0)
        let overLimit = Atomic<Int>(0)
    }

    public init(
        writer: StoreWriter,
        publisher: StatePublisher,
        client: MosquittoClient,
        topics: Topics,
        discoveryPrefix: String = "homeassistant",
        limits: Limits = Limits(),
        logger: Logger
    ) {
        self.policy = DeviceTopicPolicy(base: topics.base, discoveryPrefix: discoveryPrefix)
        self.limits = limits
        self.writer = writer
        self.publisher = publisher
        self.client = client
        self.topics = topics
        self.discoveryPrefix = discoveryPrefix
        self.logger = logger
    }

    /// Loads every stored device and subscribes to all their topics (sent at connect if not connected yet).
    ///
    /// A stored device whose topics the topic policy refuses (saved before the policy existed) is loaded without
    /// those topics, with a warning in its document, rather than subscribed as it was or dropped.
    public func load() async throws {
        let stored = try await writer.store.loadAll()
        let filters = contents.withLock { contents -> [String] in
            var filters: [String] = []
            for (device, state) in stored {
                let checked = quarantined(device)
                filters += Self.insert(checked, state: state, into: &contents)
            }
            for (device, _) in stored { Self.refreshWarnings(device.id, &contents) }
            return filters
        }
        try await client.subscribe(filters, qos: .atLeastOnce)
        logger.info("devices loaded", metadata: ["devices.count": "\(stored.count)", "devices.topics": "\(filters.count)"])
    }

    public var count: Int { contents.withLock { $0.devices.count } }

    // MARK: - Ingest (hot path)

    /// Applies one message to every device whose state or availability topic it matches.
    public func ingest(_ message: MQTTMessage) {
        if message.payload.count > limits.statePayloadBytes {
            rejectOversized(message)
            return
        }
        let now = Timestamp.now()
        var logs: [DeviceStore.LogEntry] = []
        var changed: [(String, DeviceState)] = []
        var availabilityChanged: [(String, Bool)] = []
        var confirmed: [(StateWaiter, JSONValue?)] = []
        var templateErrors = 0
        var templateFailures: [(String, String, TemplateError)] = []
        let recordsHistory = writer.settings.recordsHistory
        let milliseconds = recordsHistory ? Int64((Timestamp.currentSeconds() * 1000).rounded()) : 0
        var sampled: [String] = []
        var droppedKeys = 0
        // Parsed at most once per message, however many discovered entities read it (Zigbee2MQTT: all of a device's).
        var parsed: JSONValue?? = nil
        func json() -> JSONValue? {
            if let parsed { return parsed }
            let value = EntityBehavior.json(message.payload)
            parsed = .some(value)
            return value
        }
        contents.withLock { contents in
            let routes = contents.index.matches(message.topic)
            guard !routes.isEmpty else { return }
            var touched: [String] = []
            var attributesMerged: Set<String> = []
            for route in routes {
                guard let device = contents.devices[route.deviceID] else { continue }
                let wasOnline = contents.states[route.deviceID]?.online ?? false
                switch route.kind {
                case .state:
                    // Mutated in place through the dictionary: no copy of the state per message.
                    contents.states[route.deviceID, default: DeviceState()].apply(
                        payload: message.payload,
                        entityKey: route.entityKey,
                        at: now,
                        hasAvailability: device.hasAvailability,
                        maxKeys: limits.stateKeys,
                        droppedKeys: &droppedKeys
                    )
                    // A manual device confirms `devices/set` through the same state topic it reports on.
                    if contents.waiters[route.deviceID] != nil {
                        let current = contents.states[route.deviceID]?.values[route.entityKey]
                        confirmed += Self.takeWaiters(route.deviceID, route.entityKey, current, &contents)
                    }
                case .availability:
                    guard let availability = device.entity(route.entityKey)?.availability else { continue }
                    let text = message.payloadString
                    if text == availability.payloadAvailable {
                        contents.states[route.deviceID, default: DeviceState()].online = true
                    } else if text == availability.payloadNotAvailable {
                        contents.states[route.deviceID, default: DeviceState()].online = false
                    } else {
                        continue
                    }
                case .input(let index):
                    guard let behavior = contents.behaviors[route.deviceID]?[route.entityKey],
                        behavior.inputs.indices.contains(index)
                    else { continue }
                    let input = behavior.inputs[index]
                    switch behavior.value(of: input, payload: message.payload, json: json()) {
                    case .failure(let error):
                        templateErrors += 1
                        if templateFailures.count < 4 { templateFailures.append((route.deviceID, route.entityKey, error)) }
                        continue
                    case .success(nil):
                        continue
                    case .success(let value?):
                        contents.states[route.deviceID, default: DeviceState()].set(value, entity: route.entityKey, field: input.field, at: now)
                        contents.tracking[route.deviceID]?[route.entityKey]?.lastUpdate = .now
                        if contents.tracking[route.deviceID]?[route.entityKey]?.expired == true {
                            contents.tracking[route.deviceID]?[route.entityKey]?.expired = false
                            Self.updateOnline(route.deviceID, &contents)
                        }
                        let current = contents.states[route.deviceID]?.values[route.entityKey]
                        confirmed += Self.takeWaiters(route.deviceID, route.entityKey, current, &contents)
                    }
                case .attributes:
                    // Attributes are merged per device: one merge per message and template, not one per entity.
                    guard let behavior = contents.behaviors[route.deviceID]?[route.entityKey],
                        attributesMerged.insert("\(route.deviceID)\n\(behavior.attributesTemplate?.source ?? "")").inserted,
                        let attributes = behavior.attributes(payload: message.payload, json: json())
                    else { continue }
                    var state = contents.states[route.deviceID] ?? DeviceState()
                    for (key, value) in attributes { state.attributes[key] = value }
                    state.lastSeen = now
                    contents.states[route.deviceID] = state
                case .availabilitySource(let index):
                    guard let behavior = contents.behaviors[route.deviceID]?[route.entityKey],
                        behavior.availability.indices.contains(index),
                        let available = behavior.availabilityValue(source: index, payload: message.payload, json: json())
                    else { continue }
                    contents.tracking[route.deviceID]?[route.entityKey]?.sources[index] = available
                    contents.tracking[route.deviceID]?[route.entityKey]?.latest = available
                    Self.updateOnline(route.deviceID, &contents)
                }
                let online = contents.states[route.deviceID]?.online ?? false
                if online != wasOnline { availabilityChanged.append((route.deviceID, online)) }
                if !touched.contains(route.deviceID) {
                    touched.append(route.deviceID)
                    contents.messageCounts[route.deviceID, default: 0] += 1
                    logs.append(.init(deviceID: route.deviceID, at: now, direction: "rx", topic: message.topic, payload: message.payload))
                }
            }
            changed = touched.map { ($0, contents.states[$0]!) }
            if recordsHistory {
                // At most one history sample a second per device: a device flooding its topic costs the history
                // (and this path) nothing more than one reporting every second.
                for id in touched where milliseconds - (contents.lastSampled[id] ?? Int64.min / 2) >= 1000 {
                    contents.lastSampled[id] = milliseconds
                    sampled.append(id)
                }
            }
        }
        if templateErrors > 0 {
            discoveryCounters.templateErrors.add(templateErrors, ordering: .relaxed)
            for (deviceID, entityKey, error) in templateFailures { templateFailed(deviceID: deviceID, entityKey: entityKey, error) }
        }
        if droppedKeys > 0 { stateKeysDropped.add(droppedKeys, ordering: .relaxed) }
        for (waiter, value) in confirmed { waiter.resolve(confirmed: true, value: value) }
        guard !changed.isEmpty else {
            unmatched.add(1, ordering: .relaxed)
            return
        }
        matched.add(1, ordering: .relaxed)
        writer.enqueue(
            logs: logs,
            states: changed,
            samples: sampled.isEmpty ? [] : Self.samples(changed.filter { sampled.contains($0.0) }, at: now, milliseconds: milliseconds)
        )
        for (id, state) in changed { publisher.publish(topics.deviceState(id), state: state) }
        for (id, online) in availabilityChanged {
            publisher.publish(topics.deviceAvailability(id), payload: Array((online ? "online" : "offline").utf8))
        }
    }

    /// The numeric values this message set (their `updatedAt` is this message's time), as history samples; a light's
    /// object value contributes its numeric fields as `<key>.<field>` (`light.brightness`).
    static let sampledFieldsPerValue = 16
    /// Values one device gives the history per sample (a second): with the fields, what bounds its series.
    static let sampledValuesPerDevice = 64

    static func samples(_ changed: [(String, DeviceState)], at now: String, milliseconds: Int64) -> [DeviceStore.Sample] {
        var samples: [DeviceStore.Sample] = []
        for (id, state) in changed {
            let first = samples.count
            for (key, time) in state.updatedAt where time == now && samples.count - first < sampledValuesPerDevice {
                switch state.values[key] {
                case .int(let value)?:
                    samples.append(.init(deviceID: id, key: key, at: milliseconds, value: Double(value)))
                case .double(let value)? where value.isFinite:
                    samples.append(.init(deviceID: id, key: key, at: milliseconds, value: value))
                case .object(let fields)?:
                    // A light's brightness and colour temperature, not a payload's every field: at most 16 per value,
                    // so one message cannot open thousands of series.
                    var taken = 0
                    for (field, value) in fields where taken < Self.sampledFieldsPerValue {
                        if let number = value.doubleValue, number.isFinite {
                            samples.append(.init(deviceID: id, key: key + "." + field, at: milliseconds, value: number))
                            taken += 1
                        }
                    }
                default:
                    break
                }
            }
        }
        return samples
    }

    /// A discovered device's `online`, from its entities as Home Assistant computes each entity's availability:
    /// no availability configured means available; `latest`/`all`/`any` over the availability topics; expired
    /// (`expire_after`) means unavailable. The device is online when any entity that has availability is available.
    static func updateOnline(_ deviceID: String, _ contents: inout Contents) {
        guard let behaviors = contents.behaviors[deviceID], !behaviors.isEmpty else { return }
        var hasAvailability = false
        var online = false
        for (key, behavior) in behaviors where !behavior.availability.isEmpty || behavior.expireAfter > 0 {
            hasAvailability = true
            let tracking = contents.tracking[deviceID]?[key] ?? EntityTracking()
            var available: Bool
            if behavior.availability.isEmpty {
                available = true
            } else {
                switch behavior.availabilityMode {
                case "all": available = tracking.sources.allSatisfy { $0 == true }
                case "any": available = tracking.sources.contains { $0 == true }
                default: available = tracking.latest ?? false
                }
            }
            if tracking.expired { available = false }
            if available {
                online = true
                break
            }
        }
        contents.states[deviceID, default: DeviceState()].online = hasAvailability ? online : true
    }

    // MARK: - Retained topics

    /// Publishes every retained topic the registry owns; called after each (re)connect, before `online`.
    public func republishAll() {
        let snapshot = contents.withLock { contents in
            contents.devices.values.map { ($0, contents.states[$0.id] ?? DeviceState()) }
        }
        for (device, state) in snapshot { publishRetained(device, state: state) }
        logger.debug("republished device topics", metadata: ["devices.count": "\(snapshot.count)"])
    }

    func publishRetained(_ device: Device, state: DeviceState) {
        do {
            try client.publish(topics.device(device.id), payload: device.document.jsonBytes, qos: .atLeastOnce, retain: true)
            try client.publish(topics.deviceState(device.id), payload: state.json.jsonBytes, qos: .atLeastOnce, retain: true)
            try client.publish(
                topics.deviceAvailability(device.id),
                payload: Array((state.online ? "online" : "offline").utf8),
                qos: .atLeastOnce,
                retain: true
            )
        } catch {
            logger.warning("cannot publish device topics", metadata: ["device.id": "\(device.id)", "error": "\(error)"])
        }
    }

    func publishEvent(_ event: String, id: String) {
        let payload: JSONValue = ["event": .string(event), "id": .string(id), "at": .string(Timestamp.now())]
        _ = try? client.publish(topics.events, payload: payload.jsonBytes, qos: .atLeastOnce)
    }

    // MARK: - Index maintenance

    /// Adds a device to the maps and the topic index; returns the filters that are new (to subscribe).
    static func insert(_ device: Device, state: DeviceState, into contents: inout Contents) -> [String] {
        contents.devices[device.id] = device
        for entity in device.entities {
            for (_, topic) in entity.commandTopics { contents.commandTopics[topic, default: []].insert(device.id) }
        }
        contents.states[device.id] = state
        contents.names[device.name.lowercased()] = device.id
        var behaviors: [String: EntityBehavior] = [:]
        var tracking: [String: EntityTracking] = [:]
        let previous = contents.tracking[device.id] ?? [:]
        for entity in device.entities {
            guard let discovery = entity.discovery else { continue }
            let behavior = EntityBehavior(platform: entity.platform, config: discovery.config)
            behaviors[entity.key] = behavior
            var entry = previous[entity.key] ?? EntityTracking()
            if entry.sources.count != behavior.availability.count {
                entry.sources = Array(repeating: nil, count: behavior.availability.count)
                entry.latest = nil
            }
            tracking[entity.key] = entry
            let reference = EntityRef(deviceID: device.id, entityKey: entity.key)
            contents.discoveryKeys[discovery.key] = reference
            contents.discoveryTopics[discovery.topic, default: []].insert(discovery.key)
            if let uniqueID = discovery.uniqueID { contents.uniqueIDs["\(entity.platform) \(uniqueID)"] = reference }
        }
        if !behaviors.isEmpty {
            contents.discoveredEntities += behaviors.count
            contents.behaviors[device.id] = behaviors
            contents.tracking[device.id] = tracking
            for identity in device.identities { contents.identities[identity] = device.id }
            updateOnline(device.id, &contents)
        }
        return routes(of: device, behaviors).compactMap { route, topic in contents.index.insert(route, for: topic) ? topic : nil }
    }

    /// Removes a device from the maps and the index; returns the filters no device uses any more (to unsubscribe).
    static func remove(_ device: Device, from contents: inout Contents) -> [String] {
        contents.messageCounts[device.id] = nil
        contents.lastSampled[device.id] = nil
        let behaviors = contents.behaviors.removeValue(forKey: device.id) ?? [:]
        contents.discoveredEntities -= behaviors.count
        contents.devices.removeValue(forKey: device.id)
        contents.names.removeValue(forKey: device.name.lowercased())
        for entity in device.entities {
            for (_, topic) in entity.commandTopics {
                contents.commandTopics[topic]?.remove(device.id)
                if contents.commandTopics[topic]?.isEmpty == true { contents.commandTopics[topic] = nil }
            }
        }
        for entity in device.entities {
            guard let discovery = entity.discovery else { continue }
            let reference = EntityRef(deviceID: device.id, entityKey: entity.key)
            if contents.discoveryKeys[discovery.key] == reference { contents.discoveryKeys[discovery.key] = nil }
            contents.discoveryTopics[discovery.topic]?.remove(discovery.key)
            if contents.discoveryTopics[discovery.topic]?.isEmpty == true { contents.discoveryTopics[discovery.topic] = nil }
            if let uniqueID = discovery.uniqueID, contents.uniqueIDs["\(entity.platform) \(uniqueID)"] == reference {
                contents.uniqueIDs["\(entity.platform) \(uniqueID)"] = nil
            }
        }
        for identity in device.identities where contents.identities[identity] == device.id { contents.identities[identity] = nil }
        return routes(of: device, behaviors).compactMap { route, topic in contents.index.remove(route, for: topic) ? topic : nil }
    }

    /// Every topic the device listens on, with the route a message on it takes.
    static func routes(of device: Device, _ behaviors: [String: EntityBehavior]) -> [(Route, String)] {
        device.entities.flatMap { entity -> [(Route, String)] in
            var routes: [(Route, String)] = []
            if let behavior = behaviors[entity.key] {
                for (index, input) in behavior.inputs.enumerated() {
                    routes.append((.init(deviceID: device.id, entityKey: entity.key, kind: .input(index)), input.topic))
                }
                if let topic = behavior.attributesTopic {
                    routes.append((.init(deviceID: device.id, entityKey: entity.key, kind: .attributes), topic))
                }
                for (index, source) in behavior.availability.enumerated() {
                    routes.append((.init(deviceID: device.id, entityKey: entity.key, kind: .availabilitySource(index)), source.topic))
                }
                return routes
            }
            if let topic = entity.stateTopic {
                routes.append((.init(deviceID: device.id, entityKey: entity.key, kind: .state), topic))
            }
            if let topic = entity.availability?.topic {
                routes.append((.init(deviceID: device.id, entityKey: entity.key, kind: .availability), topic))
            }
            return routes
        }
    }

    /// Ingest and routing counters for `health`.
    public var statistics: (matched: Int, unmatched: Int) {
        (matched.load(ordering: .relaxed), unmatched.load(ordering: .relaxed))
    }
}

extension Device {
    /// True when any entity reports availability; then `online` follows that topic, not incoming data.
    var hasAvailability: Bool { entities.contains { $0.availability != nil } }

    /// Identities of a discovered device (`dev.identifiers`, `dev.connections`), so its entities group together.
    var identities: [String] {
        guard case .object(let info) = attributes["device"] ?? .null else { return [] }
        var result: [String] = []
        switch info["identifiers"] ?? .null {
        case .string(let identifier): result.append("id:\(identifier)")
        case .array(let identifiers): result += identifiers.compactMap { $0.scalarText.map { "id:\($0)" } }
        default: break
        }
        for connection in info["connections"]?.arrayValue ?? [] {
            if let pair = connection.arrayValue, pair.count == 2, let type = pair[0].scalarText, let value = pair[1].scalarText {
                result.append("cn:\(type.lowercased()):\(value.lowercased())")
            }
        }
        return result
    }
}
