import Logging
import Mosquitto
import Synchronization

/// Home Assistant discovery: configs become entities of devices, grouped by `device.identifiers`/`connections`,
/// keyed by discovery hash and `unique_id`, so a re-announce under another topic updates instead of duplicating.
///
/// Applied in memory at once and persisted in the writer's next batch (the broker replays retained configs, so a
/// crash loses nothing the producer does not send again); serialized with RPC changes by ``mutations``, whose lock
/// is released before SUBACKs are awaited.
extension DeviceRegistry {
    /// Discovery filters: `<prefix>/<component>/[<node_id>/]<object_id>/config` for every platform and `device`.
    public var discoveryFilters: [String] { ["\(discoveryPrefix)/+/+/config", "\(discoveryPrefix)/+/+/+/config"] }

    /// Applies a batch of discovery messages in order, then subscribes once to every topic they need: a burst of
    /// 10,000 retained configs at start-up costs one SUBSCRIBE exchange per 200 filters instead of one round trip
    /// per config. State cannot overtake its config: nothing is subscribed before the config is applied.
    public func discover(batch messages: [MQTTMessage]) async {
        guard messages.count > 1 else {
            if let message = messages.first { await discover(message) }
            return
        }
        deferredSubscriptions.withLock { $0 = [] }
        for message in messages { await discover(message) }
        let collected = deferredSubscriptions.withLock { pending -> [String] in
            defer { pending = nil }
            return pending ?? []
        }
        // Filters a later config of the batch made unused (a removal) are not subscribed; duplicates once.
        var seen = Set<String>()
        let filters = table.withLock { table in
            collected.filter { table.isRouted($0) && seen.insert($0).inserted }
        }
        await confirmSubscription(requestSubscription(filters))
    }

    public func discover(_ message: MQTTMessage) async {
        if skipOwnConfig(message) { return }
        if message.payload.count > limits.discoveryConfigBytes, message.topic.hasSuffix("/config") {
            discoveryCounters.configs.add(1, ordering: .relaxed)
            invalidConfig(topic: message.topic, reason: "the config is \(message.payload.count) bytes; at most \(limits.discoveryConfigBytes) are read")
            return
        }
        guard let parsed = DiscoveryParser.parse(topic: message.topic, payload: message.payload, prefix: discoveryPrefix) else { return }
        discoveryCounters.configs.add(1, ordering: .relaxed)
        let receipts: [SubscriptionReceipt]
        do {
            receipts = try await mutations.withLock { () -> [SubscriptionReceipt] in
                switch parsed {
                case .invalid(let reason):
                    invalidConfig(topic: message.topic, reason: reason)
                    return []
                case .unknownPlatform(let platform, let reason):
                    discoveryCounters.countUnknown(platform)
                    invalidConfig(topic: message.topic, reason: reason)
                    return []
                case .removal(let address):
                    let keys = table.withLock { table -> [String] in
                        if address.component == "device" { return Array(table.discoveryKeys(on: address.topic)) }
                        let id = address.nodeID.map { "\($0) \(address.objectID)" } ?? address.objectID
                        return ["\(address.component) \(id)"]
                    }
                    for key in keys { removeDiscovered(key: key) }
                    return []
                case .migration(let address):
                    // The entity stays; its next config (device-based, same unique_id) takes it over.
                    table.withLock { $0.forgetDiscoveryTopic(address.topic) }
                    logger.info("discovery migration", metadata: ["mqtt.topic": "\(address.topic)"])
                    return []
                case .configs(let components, let removed):
                    for key in removed { removeDiscovered(key: key) }
                    return components.compactMap { applyDiscovered($0) }
                }
            }
        } catch {
            // Cancelled while waiting for the lock: the daemon is stopping; the retained config comes back at start.
            return
        }
        for receipt in receipts { await confirmSubscription(receipt) }
    }

    func invalidConfig(topic: String, reason: String) {
        discoveryCounters.invalid.add(1, ordering: .relaxed)
        let first = loggedDiscoveryProblems.withLock { logged -> Bool in
            if logged.count > 10_000 { logged.removeAll() }
            return logged.insert("\(topic)\n\(reason)").inserted
        }
        if first {
            logger.warning("ignoring an invalid discovery config", metadata: ["mqtt.topic": "\(topic)", "reason": "\(reason)"])
        }
    }

    // MARK: - Create and update

    /// Applies one component; returns the SUBSCRIBE sent for its topics, to be confirmed once the lock is released.
    private func applyDiscovered(_ component: DiscoveryParser.Component) -> SubscriptionReceipt? {
        let config = component.config
        let uniqueKey = config["unique_id"]?.scalarText.map { "\(component.platform) \($0)" }
        let deviceInfo = config["device"]?.objectValue
        let identities = Device.identities(of: deviceInfo)
        let (old, current, target) = table.withLock { table -> (Device?, EntityRef?, Device?) in
            let reference = table.discovered(key: component.key) ?? uniqueKey.flatMap { table.discovered(uniqueKey: $0) }
            let owner = reference.flatMap { table.devices[$0.deviceID] }
            if let device = table.device(withIdentity: identities) { return (owner, reference, device) }
            // Identifiers no device has: as in Home Assistant's device registry, the entity moves to a new device
            // unless it is its device's only entity (then the device itself takes the new identifiers).
            if let owner, !identities.isEmpty, owner.entities.count > 1, Set(owner.identities).isDisjoint(with: identities) {
                return (owner, reference, nil)
            }
            return (owner, reference, owner)
        }
        var changes: [(old: Device?, new: Device?)] = []
        var device: Device
        var entityKey: String
        if let target {
            device = target
            entityKey = current?.deviceID == target.id ? current!.entityKey : Self.freeKey(Device.slug(component.objectID), in: target, platform: component.platform)
        } else {
            let now = Timestamp.now()
            let base = identities.first.map { Device.slug(String($0.dropFirst(3))) }
                ?? Device.slug(config["unique_id"]?.scalarText ?? component.discoveryID)
            let id = table.withLock { $0.freeID(base) }
            device = Device(id: id, name: id, type: component.platform, origin: "ha_discovery", createdAt: now, updatedAt: now, version: 0, entities: [])
            entityKey = Device.slug(component.objectID)
        }
        // Moved to another device (its identifiers changed): the old device loses the entity.
        if let old, let current, old.id != device.id {
            var shrunk = old
            shrunk.entities.removeAll { $0.key == current.entityKey }
            changes.append((old, shrunk.entities.isEmpty ? nil : Self.touched(shrunk)))
        }
        let before = device
        let entity = Self.entity(from: component, key: entityKey, deviceName: deviceInfo?["name"]?.stringValue ?? device.name)
        if let problem = discoveryTopicProblem(entity) {
            invalidConfig(topic: component.topic, reason: problem)
            return nil
        }
        if current == nil {
            let total = table.withLock { $0.discoveredEntities }
            if total >= limits.discoveryMaxEntities {
                discoveryCounters.overLimit.add(1, ordering: .relaxed)
                invalidConfig(topic: component.topic, reason: "DISCOVERY_MAX_ENTITIES (\(limits.discoveryMaxEntities)) discovered entities reached")
                return nil
            }
        }
        if let index = device.entities.firstIndex(where: { $0.key == entityKey }) {
            device.entities[index] = entity
        } else {
            device.entities.append(entity)
        }
        if let deviceInfo {
            var merged = device.attributes["device"]?.objectValue ?? JSONObject()
            for (key, value) in deviceInfo { merged[key] = value }
            device.attributes["device"] = .object(merged)
        }
        if let origin = config["origin"] { device.attributes["origin"] = origin }
        if !device.areaSetByHand, let suggested = deviceInfo?["suggested_area"]?.stringValue.map(DisplayText.stripped)?.trimmed,
            !suggested.isEmpty
        {
            device.area = String(suggested.prefix(100))
        }
        let wantedName = deviceInfo?["name"]?.stringValue.map(DisplayText.stripped) ?? (before.entities.isEmpty ? entity.name : device.name)
        if wantedName != device.name {
            device.name = table.withLock { $0.freeName(wantedName, for: device.id) }
        }
        device.type = Self.primaryPlatform(device.entities)
        guard device != before else { return nil }
        changes.append((before.entities.isEmpty && before.version == 0 ? nil : before, Self.touched(device)))
        return commit(changes)
    }

    private func removeDiscovered(key: String) {
        guard let (device, entityKey) = table.withLock({ table -> (Device, String)? in
            guard let reference = table.discovered(key: key), let device = table.devices[reference.deviceID] else { return nil }
            return (device, reference.entityKey)
        }) else { return }
        discoveryCounters.removals.add(1, ordering: .relaxed)
        var shrunk = device
        shrunk.entities.removeAll { $0.key == entityKey }
        _ = commit([(device, shrunk.entities.isEmpty ? nil : Self.touched(shrunk))])
    }

    /// Applies device changes to the table, queues them for the store, (un)subscribes and publishes. `old` nil is a
    /// new device; `new` nil removes the device and clears its retained topics. Returns the SUBSCRIBE sent (nil in
    /// a batch, which subscribes once at its end).
    private func commit(_ changes: [(old: Device?, new: Device?)]) -> SubscriptionReceipt? {
        var filters: [String] = []
        for (old, new) in changes {
            if let new {
                writer.submit { store, db in try store.save(new, in: db) }
                let (stale, fresh, applied, state) = table.withLock { table in
                    let (stale, fresh) = old.map { table.replace($0, with: new) } ?? ([], table.insert(new, state: table.states[new.id] ?? DeviceState()))
                    return (stale, fresh, table.devices[new.id] ?? new, table.states[new.id] ?? DeviceState())
                }
                unsubscribe(stale)
                // A new or changed entity on a topic that is already subscribed (Zigbee2MQTT: every entity of a device
                // reads the device topic) subscribes again: the broker then re-sends the retained state and
                // availability, which the entity would otherwise never see.
                let changed = new.entities.filter { old?.entity($0.key) != $0 }
                let replay = table.withLock { $0.topics(of: new.id, entities: changed) }
                for topic in fresh + replay where !filters.contains(topic) { filters.append(topic) }
                publishRetained(applied, state: state)
                publishEvent(old == nil ? "device_discovered" : "device_updated", id: new.id)
                if old == nil {
                    logger.info("device discovered", metadata: ["device.id": "\(new.id)", "device.name": "\(new.name)"])
                }
            } else if let old {
                writer.submit { store, db in try store.delete(deviceID: old.id, in: db) }
                forgetAndClear(old)
                logger.info("discovered device removed", metadata: ["device.id": "\(old.id)"])
            }
        }
        let deferred = deferredSubscriptions.withLock { pending -> Bool in
            guard pending != nil else { return false }
            pending!.append(contentsOf: filters)
            return true
        }
        return deferred ? nil : requestSubscription(filters)
    }

    // MARK: - Mapping

    static func entity(from component: DiscoveryParser.Component, key: String, deviceName: String) -> Entity {
        let config = component.config
        let name: String
        switch config["name"] {
        case .string(let text)?: name = DisplayText.stripped(text)
        case .null?: name = deviceName
        default:
            // HA names it after its device class; else the entity id it was told to use (`default_entity_id`, which
            // replaced `object_id` in 2025.10: `sensor.hall_temperature` gives "hall temperature").
            let suggested = config["default_entity_id"]?.stringValue.map { String($0.split(separator: ".", maxSplits: 1).last ?? "") }
                ?? config["object_id"]?.stringValue
            name = config["device_class"]?.stringValue.map { $0.replacingUnderscores }
                ?? suggested.flatMap { $0.isEmpty ? nil : $0.replacingUnderscores } ?? key
        }
        return Entity(
            key: key,
            name: name,
            platform: component.platform,
            stateTopic: config["state_topic"]?.stringValue,
            commandTopic: config["command_topic"]?.stringValue,
            unit: config["unit_of_measurement"]?.stringValue,
            deviceClass: config["device_class"]?.stringValue,
            discovery: Entity.Discovery(
                key: component.key,
                topic: component.topic,
                uniqueID: config["unique_id"]?.scalarText,
                platform: component.platform,
                config: config
            )
        )
    }

    /// The platform that best names a device of several entities (``Platform/rank``).
    static func primaryPlatform(_ entities: [Entity]) -> String {
        Platform.primary(of: entities.map(\.platform)) ?? "sensor"
    }

    static func touched(_ device: Device) -> Device {
        var device = device
        device.version += 1
        device.updatedAt = Timestamp.now()
        return device
    }

    static func freeKey(_ base: String, in device: Device, platform: String) -> String {
        let taken = Set(device.entities.map(\.key))
        if !taken.contains(base) { return base }
        if !taken.contains("\(base)_\(platform)") { return "\(base)_\(platform)" }
        var suffix = 2
        while taken.contains("\(base)_\(suffix)") { suffix += 1 }
        return "\(base)_\(suffix)"
    }
}

extension Device {
    static func identities(of info: JSONObject?) -> [String] {
        guard let info else { return [] }
        var probe = Device(id: "", name: "", type: "", createdAt: "", updatedAt: "", entities: [])
        probe.attributes["device"] = .object(info)
        return probe.identities
    }
}

extension String {
    var replacingUnderscores: String { String(map { $0 == "_" ? " " : $0 }).capitalizedFirst }
    var capitalizedFirst: String { prefix(1).uppercased() + dropFirst() }
}
