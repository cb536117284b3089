import Logging
import Mosquitto
import Synchronization

/// The coordinator of every device: it keeps the ``DeviceTable`` behind one lock and turns the table's changes
/// into side effects — rows for the store (``DeviceRecording``), retained topics (``RetainedPublishing``),
/// subscriptions and commands (``DeviceBus``). Ingest, RPC and republishing all go through it; SQLite is its durable
/// copy and retained topics are its public copy.
///
/// The ingest path costs a dictionary lookup and a merge per message under the lock, no SQL and no actor hop.
/// Changes from RPC and discovery are serialized by ``mutations`` (held across the disk commit, never across a
/// broker round trip), are on disk before they are applied, and apply to the table's *current* state.
public final class DeviceRegistry: Sendable {
    typealias Route = DeviceTable.Route
    typealias EntityRef = DeviceTable.EntityRef

    let table = Mutex(DeviceTable())
    let traffic = TrafficSampler()
    /// While a discovery batch runs: the filters its configs need, subscribed in one go at its end (nil otherwise).
    let deferredSubscriptions = Mutex<[String]?>(nil)
    let writer: any DeviceRecording
    let publisher: any RetainedPublishing
    let client: any DeviceBus
    let topics: Topics
    let logger: Logger
    let mutations = AsyncLock()
    /// `devices/add` calls waiting for ``mutations``, committed together by the next holder (``add(_:)``).
    let pendingAdds = Mutex<[PendingAdd]>([])
    let matched = Atomic<Int>(0)
    let unmatched = Atomic<Int>(0)
    /// State messages over `STATE_PAYLOAD_LIMIT` on a device topic, not applied.
    let oversized = Atomic<Int>(0)
    let stateKeysDropped = Atomic<Int>(0)
    /// Unsubscribes the broker refused or that could not be sent (the filter keeps delivering, unmatched).
    let unsubscribeFailures = Atomic<Int>(0)
    /// Topics and entities already logged for an oversized message or a template error (bounded).
    let loggedIngestProblems = Mutex<Set<String>>([])
    let discoveryPrefix: String
    let policy: DeviceTopicPolicy
    let limits: Limits
    let discoveryCounters = DiscoveryCounters()
    /// Topics and payloads of the configs announced to Home Assistant; always set, so the daemon recognizes its
    /// own configs on the bus even with publishing off (and then clears them).
    let announcement: DiscoveryAnnouncement
    /// `HA_DISCOVERY_PUBLISH`.
    let announces: Bool
    let announcementCounters = AnnouncementCounters()
    /// Per device, the config last published: its hash (so an unchanged config is not sent again) and how many
    /// state fields it announced (so a new state key that is no measurement costs no config to build).
    let announced = Mutex<[String: (hash: Int, fields: Int)]>([:])

    final class AnnouncementCounters: Sendable {
        let published = Atomic<Int>(0)
        let cleared = Atomic<Int>(0)
        let staleCleared = Atomic<Int>(0)
        /// Own configs found overwritten by someone else, and published again.
        let restored = Atomic<Int>(0)
        let republishes = Atomic<Int>(0)
    }
    /// What the start-up load published while it read (``load()``): the connection it published on and the devices
    /// it could not publish yet. Finished at the first ``republishAll()``, which sends only those when the
    /// connection is still the same one.
    struct LoadPublishing: Sendable {
        var connection: Int?
        var pending: [String] = []
        var finished = false
    }
    let loadPublishing = Mutex(LoadPublishing())

    /// (topic, reason) pairs already logged, so a producer repeating a bad config is logged once.
    let loggedDiscoveryProblems = Mutex<Set<String>>([])

    final class DiscoveryCounters: Sendable {
        let configs = Atomic<Int>(0)
        let invalid = Atomic<Int>(0)
        let removals = Atomic<Int>(0)
        let templateErrors = Atomic<Int>(0)
        let overLimit = Atomic<Int>(0)
        /// Refused configs per unknown platform name; at most ``unknownNames`` names, the rest under `(other)`.
        let unknownPlatforms = Mutex<[String: Int]>([:])
        static let unknownNames = 32

        func countUnknown(_ platform: String) {
            unknownPlatforms.withLock { counts in
                let truncated = String(platform.prefix(64))
                let name = counts[truncated] != nil || counts.count < Self.unknownNames ? truncated : "(other)"
                counts[name, default: 0] += 1
            }
        }
    }

    public init(
        writer: any DeviceRecording,
        publisher: any RetainedPublishing,
        client: any DeviceBus,
        topics: Topics,
        discoveryPrefix: String = "homeassistant",
        announces: Bool = false,
        limits: Limits = Limits(),
        logger: Logger
    ) {
        self.announcement = DiscoveryAnnouncement(prefix: discoveryPrefix, topics: topics)
        self.announces = announces
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
    /// Read and applied ``loadChunk`` devices at a time. When the client is already connected (the daemon starts it
    /// before loading), each part is subscribed and its retained topics published while the next is read, so the
    /// broker works through them in parallel with the load instead of after it; ``republishAll()`` then sends only
    /// what the load could not (devices read before the CONNACK, or everything if the connection changed).
    ///
    /// A stored device whose topics the topic policy refuses (saved before the policy existed) is loaded without
    /// those topics, with a warning in its document, rather than subscribed as it was or dropped.
    public func load() async throws {
        let progress = Mutex((devices: 0, topics: 0))
        try await writer.store.loadAll(chunkSize: Self.loadChunk) { [self] chunk, total in
            let checked = chunk.map { (quarantined($0.0), $0.1) }
            let filters = table.withLock { table in
                if table.count == 0 { table.reserveCapacity(forMore: total) }
                return checked.flatMap { device, state in table.insert(device, state: state) }
            }
            // Not waited for: a SUBACK comes after the broker has worked through everything sent before it. A send that
            // fails (the connection dropping right then) is retried with every filter at the next connect.
            do throws(MosquittoError) {
                try client.subscribeWithoutWaiting(filters, qos: .atLeastOnce)
            } catch {
                logger.debug("device subscriptions left to the next connect", metadata: ["error": "\(error)"])
            }
            progress.withLock { progress in
                progress.devices += checked.count
                progress.topics += filters.count
            }
            publishWhileLoading(checked)
        }
        let (devices, topics) = progress.withLock { $0 }
        logger.info("devices loaded", metadata: ["devices.count": "\(devices)", "devices.topics": "\(topics)"])
    }

    /// Devices per part of the start-up load: enough that a part's work dwarfs its locks, few enough that the broker
    /// starts on the first part early.
    static let loadChunk = 1000

    /// Publishes a part of the load now if connected (and on the connection earlier parts went out on), else
    /// leaves it to ``republishAll()``.
    private func publishWhileLoading(_ devices: [(Device, DeviceState)]) {
        loadPublishing.withLock { loading in
            var remaining = devices[...]
            if let connection = client.connection, loading.connection == nil || loading.connection == connection {
                loading.connection = connection
                // A connection lost meanwhile: the rest waits for the next connect's republish (one warning, not 1,000).
                while let (device, state) = remaining.first, client.isConnected {
                    publishRetained(device, state: state, qos: .atMostOnce, announcing: false)
                    remaining = remaining.dropFirst()
                }
            }
            loading.pending += remaining.map(\.0.id)
        }
    }

    public var count: Int { table.withLock { $0.count } }

    // MARK: - Ingest (hot path)

    /// Applies one message to every device whose state or availability topic it matches.
    public func ingest(_ message: MQTTMessage) {
        if message.payload.count > limits.statePayloadBytes {
            rejectOversized(message)
            return
        }
        let recordsHistory = writer.settings.recordsHistory
        let context = DeviceTable.IngestContext(
            now: Timestamp.now(),
            sampleAt: recordsHistory ? Int64((Timestamp.currentSeconds() * 1000).rounded()) : nil,
            stateKeys: limits.stateKeys
        )
        let outcome = table.withLock { $0.apply(message, context) }
        if outcome.templateErrors > 0 {
            discoveryCounters.templateErrors.add(outcome.templateErrors, ordering: .relaxed)
            for (deviceID, entityKey, error) in outcome.templateFailures { templateFailed(deviceID: deviceID, entityKey: entityKey, error) }
        }
        if outcome.droppedKeys > 0 { stateKeysDropped.add(outcome.droppedKeys, ordering: .relaxed) }
        for (waiter, value) in outcome.confirmed { waiter.resolve(confirmed: true, value: value) }
        guard !outcome.changed.isEmpty else {
            unmatched.add(1, ordering: .relaxed)
            return
        }
        matched.add(1, ordering: .relaxed)
        let samples = outcome.sampled.isEmpty
            ? [] : Self.samples(outcome.changed.filter { outcome.sampled.contains($0.0) }, at: context.now, milliseconds: context.sampleAt ?? 0)
        // One snapshot per state, serialized once for both the retained publish and the stored row.
        let snapshots = outcome.changed.map { ($0.0, StateSnapshot($0.1)) }
        writer.enqueue(logs: outcome.logs, states: snapshots, samples: samples)
        for (id, snapshot) in snapshots { publisher.publish(topics.deviceState(id), state: snapshot) }
        for (id, online) in outcome.availabilityChanged {
            publisher.publish(topics.deviceAvailability(id), payload: Array((online ? "online" : "offline").utf8))
        }
        // A new field (a JSON sensor's first `humidity`) may be a new entity for Home Assistant.
        if announces { for id in outcome.grew { announceNewFields(id: id) } }
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

    // MARK: - Retained topics

    /// Publishes every retained topic the registry owns; called after each (re)connect, before `online`.
    public func republishAll() {
        // After the load, on the connection it published on: only what it could not publish.
        let onlyThese: [String]? = loadPublishing.withLock { loading in
            defer { loading = LoadPublishing(finished: true) }
            guard !loading.finished, let connection = loading.connection, connection == client.connection else { return nil }
            return loading.pending
        }
        let snapshot = table.withLock { table in
            guard let onlyThese else { return table.devices.values.map { ($0, table.states[$0.id] ?? DeviceState()) } }
            return onlyThese.compactMap { id in table.devices[id].map { ($0, table.states[id] ?? DeviceState()) } }
        }
        // QoS 0: 30,000 retained topics at QoS 1 would go 20 at a time (the broker's receive maximum), each window
        // waiting for its PUBACKs; in order on one TCP connection they are stored before the QoS 1 `online` that
        // follows them, and a connection lost meanwhile means another republish at the next connect.
        for (device, state) in snapshot { publishRetained(device, state: state, qos: .atMostOnce, announcing: false) }
        logger.debug("republished device topics", metadata: ["devices.count": "\(snapshot.count)"])
    }

    /// The device's document, state and availability, and its Home Assistant config when it changed (not
    /// `announcing`: after a reconnect, when ``reannounce()`` follows `online`).
    func publishRetained(_ device: Device, state: DeviceState, qos: QoS = .atLeastOnce, announcing: Bool = true) {
        if announces && announcing { announce(device, state: state, force: false) }
        do {
            try client.send(topics.device(device.id), payload: device.document.jsonBytes, qos: qos, retain: true)
            try client.send(topics.deviceState(device.id), payload: state.json.jsonBytes, qos: qos, retain: true)
            try client.send(
                topics.deviceAvailability(device.id),
                payload: Array((state.online ? "online" : "offline").utf8),
                qos: qos,
                retain: true
            )
        } catch {
            logger.warning("cannot publish device topics", metadata: ["device.id": "\(device.id)", "error": "\(error)"])
        }
    }

    func publishEvent(_ event: String, id: String) {
        let payload: JSONValue = ["event": .string(event), "id": .string(id), "at": .string(Timestamp.now())]
        do {
            try client.send(topics.events, payload: payload.jsonBytes, qos: .atLeastOnce, retain: false)
        } catch {
            // Events are not retained and not replayed: a disconnected daemon loses them, and says so at debug level.
            logger.debug("device event not published", metadata: ["event": "\(event)", "device.id": "\(id)", "error": "\(error)"])
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
