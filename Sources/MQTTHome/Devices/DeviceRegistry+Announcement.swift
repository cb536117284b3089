import Logging
import Synchronization
import Mosquitto

/// Announcing devices to Home Assistant (``DiscoveryAnnouncement``): a config per manual device, published when the
/// device changes, cleared when it goes, sent again after each connect and when Home Assistant comes online; the
/// daemon's own configs seen on the bus are skipped, or cleared when they are stale.
extension DeviceRegistry {
    /// Publishes the device's config if it changed since the last one (or always, with `force`).
    func announce(_ device: Device, state: DeviceState, force: Bool) {
        guard let config = announcement.config(for: device, state: state) else { return }
        let payload = config.jsonBytes
        let hash = Self.hash(payload)
        let fields = DiscoveryAnnouncement.measuredKeys(device, state).count
        let changed = announced.withLock { announced in
            defer { announced[device.id] = (hash, fields) }
            return announced[device.id]?.hash != hash
        }
        guard changed || force else { return }
        // Through the publisher, like the clears: per topic the newest wins, so a clear queued a moment earlier
        // (a stale config seen at start-up) can never land after the config that replaces it.
        publisher.publish(announcement.configTopic(deviceID: device.id), payload: payload)
        announcementCounters.published.add(1, ordering: .relaxed)
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

    /// Clears a removed device's config: Home Assistant removes the device and its entities.
    func withdraw(_ device: Device) {
        guard DiscoveryAnnouncement.isAnnounced(device) else { return }
        announced.withLock { _ = $0.removeValue(forKey: device.id) }
        guard announces else { return }
        publisher.publish(announcement.configTopic(deviceID: device.id), payload: [])
        announcementCounters.cleared.add(1, ordering: .relaxed)
    }

    func publishBridge() {
        publisher.publish(announcement.bridgeTopic, payload: announcement.bridgeConfig().jsonBytes)
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
            if !stale, let (device, state) = current {
                if announced.withLock({ $0[id]?.hash }) != Self.hash(message.payload) {
                    announcementCounters.restored.add(1, ordering: .relaxed)
                    announce(device, state: state, force: true)
                }
            }
        }
        if stale {
            publisher.publish(message.topic, payload: [])
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
