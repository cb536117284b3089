import Synchronization

/// `expire_after`: entities that stopped reporting become unavailable, as in Home Assistant.
extension DeviceRegistry {
    /// Flags entities whose `expire_after` passed and publishes the availability of devices that went offline.
    func expireStale(now: ContinuousClock.Instant) {
        let wentOffline = table.withLock { table in
            table.expire(now: now).map { ($0, table.states[$0] ?? DeviceState()) }
        }
        for (id, state) in wentOffline {
            publisher.publish(topics.deviceAvailability(id), payload: Array("offline".utf8))
            publisher.publish(topics.deviceState(id), state: StateSnapshot(state))
        }
    }
}
