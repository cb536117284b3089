/// Every device the daemon knows, its state, and the maps that route a topic to it — a plain value, so that its
/// invariants are tested without a broker: while a device is in the table, its name, topics, command topics,
/// discovery keys, `unique_id`s and identities are indexed, and once it leaves none of them is.
///
/// ``DeviceRegistry`` keeps one behind a lock (the ingest path costs a dictionary lookup and a merge per message)
/// and turns what the operations return — filters to (un)subscribe, states to publish — into side effects.
struct DeviceTable {
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

    struct EntityRef: Hashable, Sendable {
        var deviceID: String
        var entityKey: String
    }

    /// One topic a device reads or is commanded on, for the overlap checks of manual devices' state filters.
    struct TopicUse: Equatable, Sendable {
        var deviceID: String
        var topic: String
        /// A manual entity's `state_topic` with `state_topic_filter`: the only kind of topic that is a filter.
        var isStateFilter: Bool

        /// Every topic of `device`.
        static func all(of device: Device) -> [TopicUse] {
            device.entities.flatMap { entity in
                entity.allTopics.map { key, topic in
                    TopicUse(deviceID: device.id, topic: topic, isStateFilter: entity.stateTopicIsFilter && key == "state_topic")
                }
            }
        }

        /// An overlap index of every topic of `devices`.
        static func index(of devices: some Sequence<Device>) -> TopicOverlapIndex<TopicUse> {
            var index = TopicOverlapIndex<TopicUse>()
            for device in devices { index.add(device) }
            return index
        }
    }

    /// What HA's availability logic needs per entity: the last result of each availability source, the latest one,
    /// and when its state last arrived (for `expire_after`).
    struct EntityTracking: Sendable {
        var sources: [Bool?] = []
        var latest: Bool?
        var lastUpdate: ContinuousClock.Instant = .now
        var expired = false
    }

    private(set) var devices: [String: Device] = [:]
    var states: [String: DeviceState] = [:]
    /// Lower-cased name → id, for unique names and lookup by name.
    private(set) var names: [String: String] = [:]
    private(set) var index = TopicIndex<Route>()
    /// Discovered entities' compiled behaviour, by device id and entity key.
    private(set) var behaviors: [String: [String: EntityBehavior]] = [:]
    /// Discovered entities' availability inputs and last update, by device id and entity key.
    var tracking: [String: [String: EntityTracking]] = [:]
    /// Discovery hash → entity; config topic → hashes; `"<platform> <unique_id>"` → entity.
    private(set) var discoveryKeys: [String: EntityRef] = [:]
    private(set) var discoveryTopics: [String: Set<String>] = [:]
    private(set) var uniqueIDs: [String: EntityRef] = [:]
    /// `id:<identifier>` and `cn:<type>:<value>` of discovered devices → device id.
    private(set) var identities: [String: String] = [:]
    /// `devices/set` callers waiting for an entity to report a value.
    var waiters: [String: [StateWaiter]] = [:]
    /// Messages applied per device since start (a flooding device shows in `health`).
    var messageCounts: [String: Int] = [:]
    /// Command topic → the devices commanded on it (replies never go there; two devices on one are flagged).
    private(set) var commandTopics: [String: Set<String>] = [:]
    /// Discovered entities in all, for `DISCOVERY_MAX_ENTITIES`.
    private(set) var discoveredEntities = 0
    /// When each device last gave the history a sample (ms), for the one-a-second bound.
    var lastSampled: [String: Int64] = [:]
    /// Every device's topics, for a new state filter's overlap check: built at the first such check and kept up to
    /// date from then on, so that a registry without filter devices never pays its memory.
    private var topicUses: TopicOverlapIndex<TopicUse>?

    var count: Int { devices.count }

    // MARK: - Lookups

    /// The device and its state for an id or a (case-insensitive) exact name.
    func find(_ query: String) -> (Device, DeviceState)? {
        let id = devices[query] != nil ? query : names[query.lowercased()]
        guard let id, let device = devices[id] else { return nil }
        return (device, states[id] ?? DeviceState())
    }

    /// The id of the device named `name` (names are unique, case-insensitive).
    func id(named name: String) -> String? { names[name.lowercased()] }

    /// The routes a message on `topic` takes (exact topics and wildcard filters).
    func routes(for topic: String) -> [Route] { index.matches(topic) }

    /// The device that reads `topic` or is commanded on it, if any.
    func deviceUsing(_ topic: String) -> String? {
        index.matches(topic).first?.deviceID ?? commandTopics[topic]?.first
    }

    /// True while some device still reads `filter`.
    func isRouted(_ filter: String) -> Bool { index.hasValues(for: filter) }

    /// The entity a discovery hash or a `"<platform> <unique_id>"` names.
    func discovered(key: String) -> EntityRef? { discoveryKeys[key] }
    func discovered(uniqueKey: String) -> EntityRef? { uniqueIDs[uniqueKey] }
    /// The discovery hashes announced on a config topic.
    func discoveryKeys(on topic: String) -> Set<String> { discoveryTopics[topic] ?? [] }
    /// The discovered device with one of `identities` (`id:…`, `cn:…`).
    func device(withIdentity identities: [String]) -> Device? {
        for identity in identities {
            if let id = self.identities[identity], let device = devices[id] { return device }
        }
        return nil
    }
    func devices(commandedOn topic: String) -> Set<String> { commandTopics[topic] ?? [] }

    /// A topic of a device other than `deviceID` that `filter` overlaps, if any.
    mutating func topic(overlapping filter: String, except deviceID: String) -> TopicUse? {
        if topicUses == nil { topicUses = TopicUse.index(of: devices.values) }
        return topicUses?.first(overlapping: filter) { $0.deviceID != deviceID }
    }

    /// The state filter of a device other than `deviceID` that matches the plain `topic`, if any (the route index holds
    /// every state filter).
    func stateFilter(matching topic: String, except deviceID: String) -> TopicUse? {
        for route in index.matches(topic) where route.deviceID != deviceID {
            guard let entity = devices[route.deviceID]?.entities.first(where: { $0.key == route.entityKey }),
                entity.stateTopicIsFilter, let filter = entity.stateTopic
            else { continue }
            return TopicUse(deviceID: route.deviceID, topic: filter, isStateFilter: true)
        }
        return nil
    }

    /// Command topics that more than one device is commanded on.
    var sharedCommandTopics: Int { commandTopics.values.reduce(0) { $0 + ($1.count > 1 ? 1 : 0) } }

    /// `base`, or `base_2`, `base_3`… when a device already has that id.
    func freeID(_ base: String) -> String {
        var candidate = base
        var suffix = 2
        while devices[candidate] != nil {
            candidate = "\(base)_\(suffix)"
            suffix += 1
        }
        return candidate
    }

    /// Device names are unique (case-insensitive); a second "Kitchen" becomes "Kitchen 2".
    func freeName(_ base: String, for id: String) -> String {
        var candidate = base
        var suffix = 2
        while let owner = names[candidate.lowercased()], owner != id {
            candidate = "\(base) \(suffix)"
            suffix += 1
        }
        return candidate
    }

    // MARK: - Changes

    /// Room for `count` more devices in the tables every device is in, so loading 10,000 does not rehash them
    /// again and again as they grow.
    mutating func reserveCapacity(forMore count: Int) {
        devices.reserveCapacity(devices.count + count)
        states.reserveCapacity(states.count + count)
        names.reserveCapacity(names.count + count)
        index.reserveCapacity(forMoreTopics: count)
    }

    /// Adds a device with `state`; returns the filters that are new (to subscribe).
    mutating func insert(_ device: Device, state: DeviceState) -> [String] {
        states[device.id] = state
        let fresh = index(device)
        refreshWarnings(device.id)
        return fresh
    }

    /// Replaces a device by its new version, keeping the state it has *now* (not a copy taken before an await, which
    /// would lose what arrived meanwhile) and its entities' availability tracking.
    /// Returns the filters no device uses any more and those that are new; one that is both stays subscribed.
    mutating func replace(_ old: Device, with new: Device) -> (stale: [String], fresh: [String]) {
        let stale = unindex(old)
        let fresh = index(new)
        refreshWarnings(new.id)
        // Devices that shared a command topic only the old version had lose that warning.
        for entity in old.entities {
            for (_, topic) in entity.commandTopics {
                for other in commandTopics[topic] ?? [] where other != new.id { refreshWarnings(other) }
            }
        }
        return (stale.filter { !fresh.contains($0) }, fresh.filter { !stale.contains($0) })
    }

    /// Removes a device and everything known about it; returns the filters no device uses any more.
    mutating func remove(_ device: Device) -> [String] {
        states[device.id] = nil
        tracking[device.id] = nil
        messageCounts[device.id] = nil
        lastSampled[device.id] = nil
        let unused = unindex(device)
        // The devices that shared a command topic with it lose that warning.
        for entity in device.entities {
            for (_, topic) in entity.commandTopics {
                for other in commandTopics[topic] ?? [] { refreshWarnings(other) }
            }
        }
        return unused
    }

    /// Takes the entity-level indexes of a discovery config topic away (a migration): the entities stay.
    mutating func forgetDiscoveryTopic(_ topic: String) {
        for key in discoveryTopics.removeValue(forKey: topic) ?? [] { discoveryKeys[key] = nil }
    }

    private mutating func index(_ device: Device) -> [String] {
        devices[device.id] = device
        topicUses?.add(device)
        for entity in device.entities {
            for (_, topic) in entity.commandTopics { commandTopics[topic, default: []].insert(device.id) }
        }
        names[device.name.lowercased()] = device.id
        var compiled: [String: EntityBehavior] = [:]
        var entries: [String: EntityTracking] = [:]
        let previous = tracking[device.id] ?? [:]
        for entity in device.entities {
            guard let discovery = entity.discovery else { continue }
            let behavior = EntityBehavior(platform: entity.platform, config: discovery.config)
            compiled[entity.key] = behavior
            var entry = previous[entity.key] ?? EntityTracking()
            if entry.sources.count != behavior.availability.count {
                entry.sources = Array(repeating: nil, count: behavior.availability.count)
                entry.latest = nil
            }
            entries[entity.key] = entry
            let reference = EntityRef(deviceID: device.id, entityKey: entity.key)
            discoveryKeys[discovery.key] = reference
            discoveryTopics[discovery.topic, default: []].insert(discovery.key)
            if let uniqueID = discovery.uniqueID { uniqueIDs["\(entity.platform) \(uniqueID)"] = reference }
        }
        if !compiled.isEmpty {
            discoveredEntities += compiled.count
            behaviors[device.id] = compiled
            tracking[device.id] = entries
            for identity in device.identities { identities[identity] = device.id }
            updateOnline(device.id)
        }
        return Self.routes(of: device, compiled).compactMap { route, topic in index.insert(route, for: topic) ? topic : nil }
    }

    private mutating func unindex(_ device: Device) -> [String] {
        let compiled = behaviors.removeValue(forKey: device.id) ?? [:]
        discoveredEntities -= compiled.count
        let stored = devices.removeValue(forKey: device.id) ?? device
        topicUses?.remove(stored)
        if names[device.name.lowercased()] == device.id { names.removeValue(forKey: device.name.lowercased()) }
        for entity in device.entities {
            for (_, topic) in entity.commandTopics {
                commandTopics[topic]?.remove(device.id)
                if commandTopics[topic]?.isEmpty == true { commandTopics[topic] = nil }
            }
            guard let discovery = entity.discovery else { continue }
            let reference = EntityRef(deviceID: device.id, entityKey: entity.key)
            if discoveryKeys[discovery.key] == reference { discoveryKeys[discovery.key] = nil }
            discoveryTopics[discovery.topic]?.remove(discovery.key)
            if discoveryTopics[discovery.topic]?.isEmpty == true { discoveryTopics[discovery.topic] = nil }
            if let uniqueID = discovery.uniqueID, uniqueIDs["\(entity.platform) \(uniqueID)"] == reference {
                uniqueIDs["\(entity.platform) \(uniqueID)"] = nil
            }
        }
        for identity in device.identities where identities[identity] == device.id { identities[identity] = nil }
        return Self.routes(of: device, compiled).compactMap { route, topic in index.remove(route, for: topic) ? topic : nil }
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

    /// The topics of `entities` of a device (for re-subscribing so the broker replays their retained messages).
    func topics(of deviceID: String, entities: [Entity]) -> [String] {
        let probe = Device(id: deviceID, name: "", type: "", createdAt: "", updatedAt: "", entities: entities)
        return Self.routes(of: probe, behaviors[deviceID] ?? [:]).map(\.1)
    }

    // MARK: - Availability

    /// A discovered device's `online`, from its entities as Home Assistant computes each entity's availability:
    /// no availability configured means available; `latest`/`all`/`any` over the availability topics; expired
    /// (`expire_after`) means unavailable. The device is online when any entity that has availability is available.
    mutating func updateOnline(_ deviceID: String) {
        guard let compiled = behaviors[deviceID], !compiled.isEmpty else { return }
        var hasAvailability = false
        var online = false
        for (key, behavior) in compiled where !behavior.availability.isEmpty || behavior.expireAfter > 0 {
            hasAvailability = true
            let entry = tracking[deviceID]?[key] ?? EntityTracking()
            var available: Bool
            if behavior.availability.isEmpty {
                available = true
            } else {
                switch behavior.availabilityMode {
                case "all": available = entry.sources.allSatisfy { $0 == true }
                case "any": available = entry.sources.contains { $0 == true }
                default: available = entry.latest ?? false
                }
            }
            if entry.expired { available = false }
            if available {
                online = true
                break
            }
        }
        states[deviceID, default: DeviceState()].online = hasAvailability ? online : true
    }

    /// Flags entities whose `expire_after` passed; returns the devices that went offline because of it.
    mutating func expire(now: ContinuousClock.Instant) -> [String] {
        var offline: [String] = []
        for (deviceID, compiled) in behaviors {
            var changed = false
            for (key, behavior) in compiled where behavior.expireAfter > 0 {
                guard let entry = tracking[deviceID]?[key], !entry.expired,
                    now - entry.lastUpdate > .milliseconds(Int64(behavior.expireAfter * 1000))
                else { continue }
                tracking[deviceID]?[key]?.expired = true
                changed = true
            }
            guard changed else { continue }
            let wasOnline = states[deviceID]?.online ?? false
            updateOnline(deviceID)
            if wasOnline && states[deviceID]?.online == false { offline.append(deviceID) }
        }
        return offline
    }

    // MARK: - Warnings and waiters

    /// Recomputes the shared-command-topic warnings of a device and of the devices sharing its command topics.
    mutating func refreshWarnings(_ id: String) {
        guard let device = devices[id] else { return }
        let commanded = device.entities.contains { $0.commandTopic != nil || $0.discovery != nil }
        // Nothing commanded and no such warning to take back: the common sensor, refreshed once each at start-up.
        if !commanded && !device.warnings.contains(where: { $0.hasPrefix("command topic '") }) { return }
        var affected: Set<String> = [id]
        for entity in device.entities {
            for (_, topic) in entity.commandTopics { affected.formUnion(commandTopics[topic] ?? []) }
        }
        for deviceID in affected {
            guard var member = devices[deviceID] else { continue }
            var warnings = member.warnings.filter { !$0.hasPrefix("command topic '") }
            for entity in member.entities {
                for (_, topic) in entity.commandTopics {
                    let others = (commandTopics[topic] ?? []).subtracting([deviceID]).sorted()
                    if !others.isEmpty {
                        warnings.append("command topic '\(topic)' of entity '\(entity.key)' is also commanded by \(others.joined(separator: ", "))")
                    }
                }
            }
            // Most devices share no command topic: nothing to write back (a start-up refreshes every device).
            guard warnings != member.warnings else { continue }
            member.warnings = warnings
            devices[deviceID] = member
        }
    }

    /// Removes and returns the waiters of an entity that `value` satisfies.
    mutating func takeWaiters(_ deviceID: String, _ entityKey: String, _ value: JSONValue?) -> [(StateWaiter, JSONValue?)] {
        guard var list = waiters[deviceID] else { return [] }
        var taken: [(StateWaiter, JSONValue?)] = []
        list.removeAll { waiter in
            guard waiter.entityKey == entityKey, waiter.matches(value) else { return false }
            taken.append((waiter, value))
            return true
        }
        waiters[deviceID] = list.isEmpty ? nil : list
        return taken
    }

    /// Removes one waiter (timeout, failed publish) and returns the entity's value now.
    mutating func removeWaiter(_ waiter: StateWaiter, deviceID: String) -> JSONValue? {
        waiters[deviceID]?.removeAll { $0 === waiter }
        if waiters[deviceID]?.isEmpty == true { waiters[deviceID] = nil }
        return states[deviceID]?.values[waiter.entityKey]
    }
}

extension TopicOverlapIndex where Value == DeviceTable.TopicUse {
    mutating func add(_ device: Device) {
        for use in DeviceTable.TopicUse.all(of: device) { insert(use, for: use.topic) }
    }

    mutating func remove(_ device: Device) {
        for use in DeviceTable.TopicUse.all(of: device) { remove(use, for: use.topic) }
    }
}
