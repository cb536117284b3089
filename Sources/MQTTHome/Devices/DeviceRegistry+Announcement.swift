import Logging
import Synchronization
import Mosquitto

/// Announcing devices to Home Assistant (``DiscoveryAnnouncement``): a config per manual device, published when the
/// device changes, cleared when it goes, sent again after each connect and when Home Assistant comes online; the
/// daemon's own configs seen on the bus are skipped, or cleared when they are stale.
extension DeviceRegistry {
    /// Publishes the device's config if it changed since the last one (or always, with `force`).
    ///
    /// Configs and clears are sent under the ``announced`` lock, checked against the table there: a config of a
    /// device removed meanwhile is not sent, so it can never land after the clear that removed it, and a clear of
    /// a stale config is not sent for an id that has just been added. They go out at once (QoS 0, retained), not
    /// through the state publisher, so 10,000 configs are never all held in memory at a time.
    func announce(_ device: Device, state: DeviceState, force: Bool) {
        let measured = DiscoveryAnnouncement.measuredKeys(device, state)
        guard let config = announcement.config(for: device, state: state, measured: measured) else { return }
        let payload = config.jsonBytes
        let hash = Self.hash(payload)
        let fields = measured.count
        let topic = announcement.configTopic(deviceID: device.id)
        announced.withLock { announced in
            guard table.withLock({ $0.devices[device.id] != nil }) else { return }
            let changed = announced[device.id]?.hash != hash
            announced[device.id] = (hash, fields)
            guard changed || force else { return }
            // Not sent while disconnected: every config is published again after the next connect.
            guard client.isConnected, (try? client.send(topic, payload: payload, qos: .atMostOnce, retain: true)) != nil else { return }
            announcementCounters.published.add(1, ordering: .relaxed)
        }
    }

    /// After a device's state gained a key: a new config only if the key is a field that is announced (a
    /// temperature, not a sequence number), which costs a few alias lookups instead of a config to build.
    func announceNewFields(id: String) {
        guard let (device, state) = table.withLock({ table in table.devices[id].map { ($0, table.states[id] ?? DeviceState()) } }),
            DiscoveryAnnouncement.isAnnounced(device)
        else { return }
        let fields = DiscoveryAnnouncement.measuredKeys(device, state).count
        guard announced.withLock({ $0[id]?.fields }) != fields else { return }
        announce(device, state: state, force: false)
    }

    /// Clears a removed device's config (already gone from the table): Home Assistant removes the device and its
    /// entities. While disconnected the clear waits in the state publisher, which keeps it for the next connect.
    func withdraw(_ device: Device) {
        guard DiscoveryAnnouncement.isAnnounced(device) else { return }
        announced.withLock { announced in
            announced.removeValue(forKey: device.id)
            guard announces else { return }
            clear(announcement.configTopic(deviceID: device.id))
            announcementCounters.cleared.add(1, ordering: .relaxed)
        }
    }

    /// An empty retained payload now, or kept by the state publisher until the next connect.
    private func clear(_ topic: String) {
        if client.isConnected, (try? client.send(topic, payload: [], qos: .atMostOnce, retain: true)) != nil { return }
        publisher.publish(topic, payload: [])
    }

    func publishBridge() {
        guard client.isConnected else { return }
        try? client.send(announcement.bridgeTopic, payload: announcement.bridgeConfig().jsonBytes, qos: .atMostOnce, retain: true)
    }

    /// Every config again: after each (re)connect, once `online` is out (Home Assistant does not need them for
    /// that, and 10,000 configs are 12 MB to build), and when Home Assistant announced itself (`birth`).
    public func reannounce(birth: Bool = false) {
        guard announces else { return }
        let snapshot = table.withLock { table in table.devices.values.map { ($0, table.states[$0.id] ?? DeviceState()) } }
        publishBridge()
        for (device, state) in snapshot { announce(device, state: state, force: true) }
        if birth { announcementCounters.republishes.add(1, ordering: .relaxed) }
        logger.info(birth ? "republished Home Assistant discovery for its birth" : "published Home Assistant discovery", metadata: ["devices.count": "\(snapshot.count)"])
    }

    /// A config on one of the daemon's own topics, read back from the bus: nothing to discover. It is cleared when
    /// no announced device has that id any more (removed while the daemon was stopped) or publishing is off, and
    /// replaced when it is not what the daemon published (someone else wrote there). Returns false when the topic
    /// is not the daemon's.
    func skipOwnConfig(_ message: MQTTMessage) -> Bool {
        guard let owner = announcement.owner(ofConfigTopic: message.topic) else { return false }
        guard !message.payload.isEmpty else { return true }
        let stale: Bool
        switch owner {
        case .bridge:
            stale = !announces
            if announces && message.payload != announcement.bridgeConfig().jsonBytes { publishBridge() }
        case .device(let id):
            let current = table.withLock { table in table.devices[id].map { ($0, table.states[id] ?? DeviceState()) } }
            stale = !announces || current.map { !DiscoveryAnnouncement.isAnnounced($0.0) } ?? true
            // Not announced since this process started (the retained configs replayed at a connect, before
            // `reannounce`): nothing to compare with, and `reannounce` after `online` sends every config anyway.
            // Building 10,000 configs here as well made a restart's `online` wait behind them.
            if !stale, let (device, state) = current, let published = announced.withLock({ $0[id]?.hash }) {
                if published != Self.hash(message.payload) {
                    announcementCounters.restored.add(1, ordering: .relaxed)
                    announce(device, state: state, force: true)
                }
            }
        }
        guard stale else { return true }
        let cleared = announced.withLock { announced -> Bool in
            // Checked again under the lock: a device added with this id a moment ago has sent its config already.
            if case .device(let id) = owner, announces, table.withLock({ table in table.devices[id].map(DiscoveryAnnouncement.isAnnounced) == true }) {
                return false
            }
            clear(message.topic)
            return true
        }
        if cleared {
            announcementCounters.staleCleared.add(1, ordering: .relaxed)
            logger.info("clearing a stale Home Assistant config of this daemon", metadata: ["mqtt.topic": "\(message.topic)"])
        }
        return true
    }

    /// A config's hash, over its bytes at once (`combine([UInt8])` hashes byte by byte: 2.7 % of a start-up).
    static func hash(_ payload: [UInt8]) -> Int {
        var hasher = Hasher()
        payload.withUnsafeBytes { hasher.combine(bytes: $0) }
        return hasher.finalize()
    }

    /// Counters for `health.ha_discovery`.
    func announcementStatistics() -> JSONValue {
        [
            "publishing": .bool(announces),
            "prefix": .string(announcement.prefix),
            "configs_published": JSONValue(announcementCounters.published.load(ordering: .relaxed)),
            "configs_cleared": JSONValue(announcementCounters.cleared.load(ordering: .relaxed)),
            "stale_cleared": JSONValue(announcementCounters.staleCleared.load(ordering: .relaxed)),
            "restored": JSONValue(announcementCounters.restored.load(ordering: .relaxed)),
            "republished_on_birth": JSONValue(announcementCounters.republishes.load(ordering: .relaxed)),
        ]
    }
}
