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
            case state, availability
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
    }

    let contents = Mutex(Contents())
    let writer: StoreWriter
    let publisher: StatePublisher
    let client: MosquittoClient
    let topics: Topics
    let logger: Logger
    let mutations = AsyncLock()
    let matched = Atomic<Int>(0)
    let unmatched = Atomic<Int>(0)

    public init(writer: StoreWriter, publisher: StatePublisher, client: MosquittoClient, topics: Topics, logger: Logger) {
        self.writer = writer
        self.publisher = publisher
        self.client = client
        self.topics = topics
        self.logger = logger
    }

    /// Loads every stored device and subscribes to all their topics (sent at connect if not connected yet).
    public func load() async throws {
        let stored = try await writer.store.loadAll()
        let filters = contents.withLock { contents -> [String] in
            var filters: [String] = []
            for (device, state) in stored {
                filters += Self.insert(device, state: state, into: &contents)
            }
            return filters
        }
        try await client.subscribe(filters, qos: .atLeastOnce)
        logger.info("devices loaded", metadata: ["devices.count": "\(stored.count)", "devices.topics": "\(filters.count)"])
    }

    public var count: Int { contents.withLock { $0.devices.count } }

    // MARK: - Ingest (hot path)

    /// Applies one message to every device whose state or availability topic it matches.
    public func ingest(_ message: MQTTMessage) {
        let now = Timestamp.now()
        var logs: [DeviceStore.LogEntry] = []
        var changed: [(String, DeviceState)] = []
        var availabilityChanged: [(String, Bool)] = []
        contents.withLock { contents in
            let routes = contents.index.matches(message.topic)
            guard !routes.isEmpty else { return }
            var touched: [String] = []
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
                        hasAvailability: device.hasAvailability
                    )
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
                }
                let online = contents.states[route.deviceID]?.online ?? false
                if online != wasOnline { availabilityChanged.append((route.deviceID, online)) }
                if !touched.contains(route.deviceID) {
                    touched.append(route.deviceID)
                    logs.append(.init(deviceID: route.deviceID, at: now, direction: "rx", topic: message.topic, payload: message.payload))
                }
            }
            changed = touched.map { ($0, contents.states[$0]!) }
        }
        guard !changed.isEmpty else {
            unmatched.add(1, ordering: .relaxed)
            return
        }
        matched.add(1, ordering: .relaxed)
        writer.enqueue(logs: logs, states: changed)
        for (id, state) in changed { publisher.publish(topics.deviceState(id), state: state) }
        for (id, online) in availabilityChanged {
            publisher.publish(topics.deviceAvailability(id), payload: Array((online ? "online" : "offline").utf8))
        }
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
        contents.states[device.id] = state
        contents.names[device.name.lowercased()] = device.id
        return device.routes.compactMap { route, topic in contents.index.insert(route, for: topic) ? topic : nil }
    }

    /// Removes a device from the maps and the index; returns the filters no device uses any more (to unsubscribe).
    static func remove(_ device: Device, from contents: inout Contents) -> [String] {
        contents.devices.removeValue(forKey: device.id)
        contents.names.removeValue(forKey: device.name.lowercased())
        return device.routes.compactMap { route, topic in contents.index.remove(route, for: topic) ? topic : nil }
    }

    /// Ingest and routing counters for `health`.
    public var statistics: (matched: Int, unmatched: Int) {
        (matched.load(ordering: .relaxed), unmatched.load(ordering: .relaxed))
    }
}

extension Device {
    /// True when any entity reports availability; then `online` follows that topic, not incoming data.
    var hasAvailability: Bool { entities.contains { $0.availability != nil } }

    /// Every topic the device listens on, with the route a message on it takes.
    var routes: [(DeviceRegistry.Route, String)] {
        entities.flatMap { entity -> [(DeviceRegistry.Route, String)] in
            var routes: [(DeviceRegistry.Route, String)] = []
            if let topic = entity.stateTopic {
                routes.append((.init(deviceID: id, entityKey: entity.key, kind: .state), topic))
            }
            if let topic = entity.availability?.topic {
                routes.append((.init(deviceID: id, entityKey: entity.key, kind: .availability), topic))
            }
            return routes
        }
    }
}
